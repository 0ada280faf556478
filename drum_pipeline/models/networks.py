"""Model 1 (a small CNN on MFCC frames), Model 2 (a convolutional autoencoder on log-mel
spectrograms, and a classifier on its encoding), the MFCC-statistics baseline, and their training.

Every model takes the cached features as they are: Model 1 the MFCC matrix (n_mfcc, frames),
Model 2 the log-mel spectrogram (n_mels, frames) in dB; scaling and normalisation are layers
inside the models, so inference needs nothing but the features. Training augments in the log-mel
domain and derives the MFCCs with the same function the feature extractor uses.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.class_weight import compute_class_weight  # noqa: E402

from drum_pipeline.audio.embeddings import EMBEDDING_SIZE  # noqa: E402
from drum_pipeline.audio.feature_cache import feature_matrix  # noqa: E402
from drum_pipeline.audio.features import FeatureParams, mfcc_from_logmel  # noqa: E402
from drum_pipeline.models.augment import augment_logmel  # noqa: E402


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 80
    autoencoder_epochs: int = 20  # Model 2's two stages stay under two minutes on 2 cores
    batch_size: int = 32
    patience: int = 12
    learning_rate: float = 2e-3
    model1_filters: int = 16
    embedding_size: int = 64
    dropout: float = 0.3
    augment: bool = True
    synthetic_per_label: int = 40  # synthesized drums of every fine label added to the training split
    seed: int = 7


@dataclass
class SplitData:
    """Log-mel spectrograms (N, n_mels, frames), class indices and fine labels of one split, the
    sounds' durations in seconds where known, their training weights (None: all 1) and, in the
    accurate mode, their pretrained embeddings (None for synthesized sounds, or without it)."""

    logmel: np.ndarray
    y: np.ndarray
    fine: np.ndarray
    duration: np.ndarray | None = None
    weight: np.ndarray | None = None
    embedding: np.ndarray | None = None

    def mfcc(self, params: FeatureParams) -> np.ndarray:
        return mfcc_from_logmel(self.logmel, params.n_mfcc)

    @property
    def sample_weight(self) -> np.ndarray:
        return np.ones(len(self.y), np.float32) if self.weight is None else self.weight

    def weighted(self, weight: float) -> SplitData:
        return replace(self, weight=np.full(len(self.y), weight, np.float32))

    def plus(self, other: SplitData) -> SplitData:
        duration = None
        if self.duration is not None and other.duration is not None:
            duration = np.concatenate([self.duration, other.duration])
        weight = None if self.weight is None and other.weight is None else np.concatenate(
            [self.sample_weight, other.sample_weight])
        embedding = None
        if self.embedding is not None and other.embedding is not None:
            embedding = np.concatenate([self.embedding, other.embedding])
        return SplitData(np.concatenate([self.logmel, other.logmel]), np.concatenate([self.y, other.y]),
                         np.concatenate([self.fine, other.fine]), duration, weight, embedding)


@dataclass
class TrainingResult:
    model: keras.Model
    history: dict[str, list[float]]
    seconds: float
    extra: dict = field(default_factory=dict)


def _channel(x: np.ndarray) -> np.ndarray:
    return x[..., None].astype(np.float32)


class _Batches(keras.utils.PyDataset):
    """Shuffled, class-weighted batches, augmented afresh every epoch."""

    def __init__(self, data: SplitData, to_inputs: Callable[[np.ndarray], np.ndarray], config: TrainingConfig,
                 weights: np.ndarray | None = None):
        super().__init__()
        self.data, self.to_inputs, self.config = data, to_inputs, config
        self.weights = weights if weights is not None else np.ones(len(data.y), np.float32)
        self.rng = np.random.default_rng(config.seed)
        self.order = self.rng.permutation(len(data.y))

    def __len__(self) -> int:
        return int(np.ceil(len(self.order) / self.config.batch_size))

    def __getitem__(self, index: int):
        rows = self.order[index * self.config.batch_size : (index + 1) * self.config.batch_size]
        logmel = self.data.logmel[rows]
        if self.config.augment:
            logmel = augment_logmel(logmel, self.rng)
        return self.to_inputs(logmel), self.data.y[rows], self.weights[rows]

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.order))


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-sample weights that balance the classes present in `y`."""
    present = np.unique(y)
    weights = np.ones(n_classes, np.float32)
    weights[present] = compute_class_weight("balanced", classes=present, y=y)
    return weights[y]


@keras.saving.register_keras_serializable(package="drum_pipeline")
class TimeStatistics(keras.layers.Layer):
    """Mean and standard deviation over time of (batch, bands, frames, 1): (batch, 2 * bands)."""

    def call(self, x):
        x = x[..., 0]
        return keras.ops.concatenate([keras.ops.mean(x, axis=2), keras.ops.std(x, axis=2)], axis=1)


def build_model1(params: FeatureParams, n_classes: int, filters: int = 16, dropout: float = 0.3) -> keras.Model:
    """Model 1: three conv blocks over the MFCC matrix, beside the MFCC statistics over time
    (per-coefficient normalisation inside)."""
    inputs = keras.Input((params.n_mfcc, params.n_frames, 1), name="mfcc")
    normalised = keras.layers.Normalization(axis=1, name="per_coefficient")(inputs)
    x = normalised
    for i, width in enumerate((filters, 2 * filters, 4 * filters)):
        x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        if i < 2:
            x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Concatenate()([x, TimeStatistics(name="mfcc_statistics")(normalised)])
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="model1_mfcc_cnn")


def build_autoencoder(params: FeatureParams, embedding_size: int = 64) -> tuple[keras.Model, keras.Model]:
    """Model 2's convolutional autoencoder on the log-mel spectrogram; returns (autoencoder, encoder).

    The input is the spectrogram in dB (-top_db..0), scaled to 0..1 inside; the autoencoder
    reconstructs that scaled spectrogram, and the encoder gives the embedding.
    """
    bands, frames = params.n_mels, params.n_frames
    padded = int(np.ceil(frames / 8) * 8)
    inputs = keras.Input((bands, frames, 1), name="logmel")
    x = keras.layers.Rescaling(1.0 / params.top_db, offset=1.0, name="to_unit")(inputs)
    x = keras.layers.ZeroPadding2D(((0, 0), (0, padded - frames)))(x)
    for width in (16, 32, 64):
        x = keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(x)
    embedding = keras.layers.Dense(embedding_size, name="embedding")(keras.layers.Flatten()(x))
    encoder = keras.Model(inputs, embedding, name="model2_encoder")

    y = keras.layers.Dense((bands // 8) * (padded // 8) * 64, activation="relu")(embedding)
    y = keras.layers.Reshape((bands // 8, padded // 8, 64))(y)
    for width in (32, 16):
        y = keras.layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu")(y)
    y = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid")(y)
    y = keras.layers.Cropping2D(((0, 0), (0, padded - frames)), name="reconstruction")(y)
    return keras.Model(inputs, y, name="model2_autoencoder"), encoder


def build_model2_classifier(encoder: keras.Model, train_embeddings: np.ndarray, n_classes: int,
                            dropout: float = 0.3) -> keras.Model:
    """Model 2's classifier: the encoder, then a small dense head on the embedding."""
    inputs = keras.Input(encoder.input_shape[1:], name="logmel")
    norm = keras.layers.Normalization(name="embedding_norm")
    norm.adapt(train_embeddings)
    x = norm(encoder(inputs))
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="model2_classifier")


def _fit(model: keras.Model, train: _Batches, val_inputs, val_targets, config: TrainingConfig, epochs: int,
         log: Callable[[str], None] | None) -> TrainingResult:
    start = time.monotonic()
    callbacks = [keras.callbacks.EarlyStopping(patience=config.patience, restore_best_weights=True),
                 keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=max(2, config.patience // 3))]
    if log:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: log(
            f"{model.name}: epoch {epoch + 1}/{epochs}: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(logs.items()))
        ) if (epoch + 1) % 5 == 0 else None))
    has_val = len(val_targets) > 0
    history = model.fit(train, validation_data=(val_inputs, val_targets) if has_val else None, epochs=epochs,
                        callbacks=callbacks if has_val else callbacks[2:], verbose=0)
    return TrainingResult(model, {k: [float(v) for v in vals] for k, vals in history.history.items()},
                          time.monotonic() - start)


def train_model1(train: SplitData, val: SplitData, params: FeatureParams, n_classes: int,
                 config: TrainingConfig = TrainingConfig(), log: Callable[[str], None] | None = None) -> TrainingResult:
    """Train Model 1 with augmentation, class weights and early stopping on `val`."""
    keras.utils.set_random_seed(config.seed)
    model = build_model1(params, n_classes, config.model1_filters, config.dropout)
    model.get_layer("per_coefficient").adapt(_channel(train.mfcc(params)))
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    batches = _Batches(train, lambda logmel: _channel(mfcc_from_logmel(logmel, params.n_mfcc)), config,
                       weights=class_weights(train.y, n_classes) * train.sample_weight)
    return _fit(model, batches, _channel(val.mfcc(params)), val.y, config, config.epochs, log)


def train_autoencoder(train: SplitData, val: SplitData, params: FeatureParams,
                      config: TrainingConfig = TrainingConfig(), log: Callable[[str], None] | None = None
                      ) -> TrainingResult:
    """Train Model 2's autoencoder to reconstruct (augmented) spectrograms; `extra['encoder']` is its encoder."""
    keras.utils.set_random_seed(config.seed)
    autoencoder, encoder = build_autoencoder(params, config.embedding_size)
    autoencoder.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse")
    to_unit = lambda logmel: _channel(logmel / params.top_db + 1.0)  # noqa: E731
    batches = _SelfTarget(_Batches(train, _channel, config), to_unit)  # unweighted: it learns no labels
    result = _fit(autoencoder, batches, _channel(val.logmel), to_unit(val.logmel), config,
                  config.autoencoder_epochs, log)
    result.extra["encoder"] = encoder
    return result


class _SelfTarget(keras.utils.PyDataset):
    """Batches of (spectrogram, spectrogram scaled to 0..1) for the autoencoder."""

    def __init__(self, batches: _Batches, to_unit: Callable[[np.ndarray], np.ndarray]):
        super().__init__()
        self.batches, self.to_unit = batches, to_unit

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        inputs, _, _ = self.batches[index]
        return inputs, self.to_unit(inputs[..., 0])

    def on_epoch_end(self) -> None:
        self.batches.on_epoch_end()


def train_model2_classifier(encoder: keras.Model, train: SplitData, val: SplitData, n_classes: int,
                            config: TrainingConfig = TrainingConfig(),
                            log: Callable[[str], None] | None = None) -> TrainingResult:
    """Train the classifier head on the frozen encoder's embedding, then fine-tune the encoder
    with it at a tenth of the learning rate (the embedding stays what the encoder gives)."""
    keras.utils.set_random_seed(config.seed)
    embeddings = encoder.predict(_channel(train.logmel), verbose=0, batch_size=256)
    model = build_model2_classifier(encoder, embeddings, n_classes, config.dropout)
    batches = _Batches(train, _channel, config, weights=class_weights(train.y, n_classes) * train.sample_weight)
    history: dict[str, list[float]] = {}
    seconds = 0.0
    for stage, learning_rate in (("head", config.learning_rate), ("fine_tune", config.learning_rate / 10)):
        encoder.trainable = stage == "fine_tune"
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        result = _fit(model, batches, _channel(val.logmel), val.y, config, config.epochs, log)
        for key, values in result.history.items():
            history.setdefault(key, []).extend(values)
        seconds += result.seconds
    return TrainingResult(model, history, seconds)


def mfcc_statistics(mfcc: np.ndarray) -> np.ndarray:
    """Mean and standard deviation of every MFCC coefficient over time: (N, 2 * n_mfcc)."""
    return np.concatenate([mfcc.mean(axis=2), mfcc.std(axis=2)], axis=1)


def train_baseline(train: SplitData, params: FeatureParams, seed: int = 7):
    """The baseline: logistic regression on MFCC statistics, class-balanced."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, class_weight="balanced",
                                                               random_state=seed))
    return model.fit(mfcc_statistics(train.mfcc(params)), train.y)


def baseline_probabilities(baseline, mfcc: np.ndarray, n_classes: int) -> np.ndarray:
    """The baseline's class probabilities, one column per class (0 for a class it never saw)."""
    probabilities = np.zeros((len(mfcc), n_classes))
    probabilities[:, baseline.classes_] = baseline.predict_proba(mfcc_statistics(mfcc))
    return probabilities


def usable_rows(spectrograms: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """The rows of a features table that decoded and carry one of `classes`, in the table's order."""
    return spectrograms[(spectrograms["error"] == "") & spectrograms["label"].isin(classes)]


def embedding_matrix(table: pd.DataFrame) -> np.ndarray | None:
    """The stacked embeddings of a features table's `embedding` column (the accurate mode's), or None."""
    if "embedding" not in table:
        return None
    if len(table) == 0:
        return np.zeros((0, EMBEDDING_SIZE), np.float32)
    return np.stack(table["embedding"].to_numpy()).astype(np.float32)


def splits_from_table(spectrograms: pd.DataFrame, classes: list[str], params: FeatureParams) -> dict[str, SplitData]:
    """train / val / test SplitData from the spectrogram_features table (rows that decoded)."""
    usable = usable_rows(spectrograms, classes)
    index = {name: i for i, name in enumerate(classes)}
    return {
        split: SplitData(feature_matrix(part, "logmel", params), part["label"].map(index).to_numpy(dtype=np.int64),
                         part["fine_label"].to_numpy(dtype=str),
                         part["duration"].to_numpy(np.float32) if "duration" in part else None,
                         embedding=embedding_matrix(part))
        for split in ("train", "val", "test")
        for part in [usable[usable["split"] == split]]
    }
