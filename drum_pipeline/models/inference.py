"""The trained models together: Model 1, Model 2 and their ensemble, loaded once per process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.models.embedding_member import EMBEDDING_MODEL
from drum_pipeline.models.store import CANDIDATE, DEPLOYED, load_model, model_dir

CLASSIFIERS = ("model1", "model2_classifier")
DESCRIPTOR_MODEL = "descriptor_model"
# The ensemble's members: the key of their probabilities and the model (folder) whose temperature applies
MEMBERS = {"model1": "model1", "model2": "model2_classifier", "descriptors": DESCRIPTOR_MODEL,
           "embedding": EMBEDDING_MODEL}


@dataclass
class ModelSet:
    """Model 1, Model 2's classifier and its encoder: Keras models (training, evaluation) or the
    inference bundle's LiteRT models (classification); both answer predict_on_batch. With them the
    descriptor classifier (None for models trained before it existed) and, in the accurate mode,
    the member on the pretrained embedding (None otherwise)."""

    classes: list[str]
    model1: object
    model2: object
    encoder: object  # Model 2's autoencoder encoder: the embedding for fine labels and similar sounds
    temperatures: dict[str, float]
    descriptor_model: object = None
    params: FeatureParams = field(default_factory=FeatureParams)
    embedding_model: object = None

    def embed(self, logmel: np.ndarray, batch_size: int = 512) -> np.ndarray:
        if len(logmel) == 0:
            return np.zeros((0, self.encoder.output_shape[-1]), np.float32)
        return _predict(self.encoder, logmel, batch_size)

    def predict_split(self, split) -> dict[str, np.ndarray]:
        """predict on a SplitData (models/networks.py): its spectrograms, durations and embeddings."""
        return self.predict(split.mfcc(self.params), split.logmel, split.duration, embedding=split.embedding)

    def predict(self, mfcc: np.ndarray, logmel: np.ndarray, duration: np.ndarray | None = None,
                rows: np.ndarray | None = None, batch_size: int = 512,
                embedding: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Class probabilities of Model 1, Model 2, the descriptor classifier (`descriptors`; it reads
        the files' durations in seconds, or their descriptor `rows` when the caller has them), the
        accurate mode's member (`embedding`, when there is one and the sounds' `embedding` is given:
        synthesized sounds have none) and the ensemble (the mean of the calibrated members)."""
        from drum_pipeline.models.descriptors import class_probabilities, descriptors

        members = ["model1", "model2"] + (["descriptors"] if self.descriptor_model is not None else [])
        if len(mfcc) == 0:
            empty = np.zeros((0, len(self.classes)), np.float32)
            return {name: empty for name in [*members, "ensemble"]}
        out = {"model1": _predict(self.model1, mfcc, batch_size), "model2": _predict(self.model2, logmel, batch_size)}
        if self.descriptor_model is not None:
            if rows is None and duration is None:
                raise ValueError("the descriptor classifier needs the files' durations")
            rows = descriptors(logmel, duration, self.params) if rows is None else rows
            out["descriptors"] = class_probabilities(self.descriptor_model, rows, len(self.classes))
        if self.embedding_model is not None and embedding is not None:
            out["embedding"] = class_probabilities(self.embedding_model, embedding, len(self.classes))
        out["ensemble"] = ensemble_probabilities(out, self.temperatures)
        return out


def ensemble_probabilities(members: dict[str, np.ndarray], temperatures: dict[str, float]) -> np.ndarray:
    """The ensemble of the members' probabilities (keys of MEMBERS; others are ignored): the mean
    of the calibrated ones."""
    calibrated = [calibrate(p, temperatures.get(MEMBERS[name], 1.0)) for name, p in members.items() if name in MEMBERS]
    return np.mean(calibrated, axis=0)


def prediction_columns(probabilities: dict[str, np.ndarray], classes: list[str]) -> dict[str, np.ndarray]:
    """The index's columns of N predictions (ModelSet.predict's probabilities): the ensemble's label
    and confidence, and each CNN's."""
    classes = np.array(classes)
    columns = {"predicted_label": classes[probabilities["ensemble"].argmax(axis=1)],
               "confidence": probabilities["ensemble"].max(axis=1).astype(float)}
    for name in ("model1", "model2"):
        columns[f"{name}_label"] = classes[probabilities[name].argmax(axis=1)]
        columns[f"{name}_confidence"] = probabilities[name].max(axis=1).astype(float)
    return columns


def _predict(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """model.predict without its per-call dataset set-up (a large share of the time on small batches).
    Batches are padded to a power of two, so TensorFlow traces a handful of shapes, not one per pack."""
    out = []
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size]
        padded = min(batch_size, 1 << max(4, (len(batch) - 1).bit_length()))
        batch = np.concatenate([batch, np.zeros((padded - len(batch), *batch.shape[1:]), batch.dtype)])
        out.append(np.asarray(model.predict_on_batch(batch[..., None]))[: min(batch_size, len(x) - start)])
    return np.concatenate(out)


def load_model_set(models_root: Path, classes: list[str], params: FeatureParams, stage: str = DEPLOYED) -> ModelSet:
    """Model 1, Model 2 and the descriptor classifier of `stage` (deployed by default), checked
    against the classes and parameters."""
    model1, meta1 = load_model(model_dir(models_root, "model1", stage), classes, params)
    model2, meta2 = load_model(model_dir(models_root, "model2_classifier", stage), classes, params)
    encoder, _ = load_model(model_dir(models_root, "model2_encoder", stage), classes, params)
    temperatures = {"model1": meta1.get("temperature", 1.0), "model2_classifier": meta2.get("temperature", 1.0)}
    return ModelSet(list(classes), model1, model2, encoder, temperatures,
                    load_optional_model(models_root, classes, params, stage), params,
                    load_optional_model(models_root, classes, params, stage, EMBEDDING_MODEL))


def load_optional_model(folder_or_root: Path, classes: list[str], params: FeatureParams, stage: str | None = DEPLOYED,
                          name: str = DESCRIPTOR_MODEL):
    """A member the ensemble may lack (the descriptor classifier, or the embedding member: `name`)
    of a models folder's `stage`, or of a bundle (`stage` None); None when there is none: models
    trained before the trees existed, or without the accurate mode, still classify."""
    folder = Path(folder_or_root) / name if stage is None else model_dir(folder_or_root, name, stage)
    return load_model(folder, classes, params)[0] if folder.is_dir() else None


@dataclass
class Reference:
    """Embeddings of known sounds (the curated training files) with their labels: fine labels come
    from the nearest known sounds of the predicted class, and the distance to the nearest one says
    how unfamiliar a sound is (relative to the typical distance between known sounds)."""

    embeddings: np.ndarray  # standardised
    labels: np.ndarray
    fine_labels: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    typical_distance: float

    @classmethod
    def build(cls, embeddings: np.ndarray, labels, fine_labels) -> Reference:
        mean, scale = embeddings.mean(axis=0), embeddings.std(axis=0) + 1e-6
        z = (embeddings - mean) / scale
        nearest = np.sort(distances(z, z), axis=1)[:, 1] if len(z) > 1 else np.ones(1)
        return cls(z, np.asarray(labels), np.asarray(fine_labels), mean, scale, float(np.median(nearest)) or 1.0)

    def standardise(self, embeddings: np.ndarray) -> np.ndarray:
        """Embeddings in the units the known sounds are kept in."""
        return (embeddings - self.mean) / self.scale

    def fine_labels_and_novelty(self, embeddings: np.ndarray, labels: list[str], k: int = 5):
        """Per row: the majority fine label of the k nearest known sounds of `labels[i]`, and the
        distance to the nearest known sound over the typical distance."""
        z = self.standardise(embeddings)
        between = distances(z, self.embeddings)
        fine = []
        for row, label in enumerate(labels):
            same = np.flatnonzero(self.labels == label)
            if len(same) == 0:
                fine.append(label)
                continue
            nearest = same[np.argsort(between[row, same])[:k]]
            values, counts = np.unique(self.fine_labels[nearest], return_counts=True)
            fine.append(str(values[np.argmax(counts)]))
        novelty = between.min(axis=1) / self.typical_distance if len(z) else np.zeros(0)
        return fine, novelty


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of `a` and the rows of `b`: (len(a), len(b))."""
    squared = (a**2).sum(axis=1)[:, None] + (b**2).sum(axis=1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(squared, 0))


def fit_temperature(probabilities: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of `y` (1.0 without data)."""
    if len(y) == 0:
        return 1.0
    log_p = np.log(np.clip(probabilities, 1e-9, 1.0))
    best, best_nll = 1.0, np.inf
    for t in np.geomspace(0.2, 5.0, 61):
        scaled = calibrate(probabilities, t, log_p)
        nll = -np.mean(np.log(np.clip(scaled[np.arange(len(y)), y], 1e-9, 1.0)))
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def calibrate(probabilities: np.ndarray, temperature: float, log_p: np.ndarray | None = None) -> np.ndarray:
    """Softmax probabilities sharpened or softened by a temperature (the same as scaling the logits)."""
    log_p = np.log(np.clip(probabilities, 1e-9, 1.0)) if log_p is None else log_p
    z = log_p / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def calibrated_candidates(models_root: Path, classes: list[str], params: FeatureParams, val) -> ModelSet:
    """The candidate models with the CNNs' temperatures fitted on the validation split `val`
    (SplitData). The trees' stays 1: fitted on the validation split it flattened them (T 2.6 to 5)
    and cost the ensemble 0.02 macro-F1 on real kits."""
    candidates = load_model_set(models_root, classes, params, stage=CANDIDATE)
    probabilities = candidates.predict_split(val)
    for key, name in (("model1", "model1"), ("model2", "model2_classifier")):
        candidates.temperatures[name] = fit_temperature(probabilities[key], val.y)
    return candidates
