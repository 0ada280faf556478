"""The training data and the candidate models: Model 1, Model 2 (autoencoder and classifier), the
drum detector and the descriptor trees; and the cross-validation launched on purpose."""

import dagster as dg
import numpy as np
import pandas as pd

from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.defs.metadata import markdown_table, picture
from drum_pipeline.defs.resources import DrumPipelineConfig
from drum_pipeline.defs.shared import AUTOMATION
from drum_pipeline.labels.taxonomy import load_taxonomy
from drum_pipeline.models.store import load_model, model_dir, save_model
from drum_pipeline.plots import history_png

# drum_pipeline.models.networks, and model_selection and pretraining with it, import TensorFlow (about 3 s):
# they are imported inside the assets, so loading the definitions (every run process, the UI's
# code server) does not pay for it.

MODEL_INPUTS = {"deps": ["taxonomy"], "group_name": "models", "automation_condition": AUTOMATION}


def training_splits(spectrograms: pd.DataFrame, synthetic: pd.DataFrame | None, classes: list[str],
                    params: FeatureParams, base: pd.DataFrame | None = None) -> dict:
    """train / val / test SplitData of the library's spectrograms; `train_library` and
    `val_library` keep the library's own drums of those splits. With `synthetic` (the
    synthetic_drums table), its drums join the training split; with `base` (the base_corpus
    table), its drums join the training and validation splits, weighed so that they never
    outweigh the library's training drums (base_weight)."""
    from drum_pipeline.models.networks import splits_from_table

    splits = splits_from_table(spectrograms, classes, params)
    if len(splits["train"].y) == 0:
        raise ValueError("the curated training set has no usable training files: check label_extraction")
    splits["train_library"], splits["val_library"] = splits["train"], splits["val"]
    if synthetic is not None:
        splits["train"] = splits["train"].plus(splits_from_table(synthetic, classes, params)["train"])
    if base is not None and len(base):
        corpus = splits_from_table(base, classes, params)
        weight = base_weight(len(splits["train_library"].y), len(corpus["train"].y))
        splits["train"] = splits["train"].plus(corpus["train"].weighted(weight))
        splits["val"] = splits["val"].plus(corpus["val"].weighted(weight))
        splits["base_train_files"] = len(corpus["train"].y)
    return splits


def base_weight(library_drums: int, corpus_drums: int) -> float:
    """The weight of each base-corpus drum in training: 1, or less when the corpus holds more drums
    than the library, so that the library weighs at least as much and a user's naming wins."""
    return min(1.0, library_drums / corpus_drums) if corpus_drums else 1.0


def library_non_drums(label_extraction: pd.DataFrame, library_dir, cache_dir, params: FeatureParams,
                      base: pd.DataFrame | None = None):
    """The library's non-drum files as (train, val) SplitData with durations (features from the
    cache), with the base corpus's non-drums of each split when `base` is given. No embeddings:
    the synthesized negatives they are checked beside have none (SplitData.plus would drop them)."""
    from drum_pipeline.audio.feature_cache import FeatureCache, extract_missing, feature_table
    from drum_pipeline.models.rejection import non_drum_split

    files = non_drum_split(label_extraction)
    with FeatureCache(cache_dir, params) as cache:
        extract_missing(((row.sha256, library_dir / row.path) for row in files.itertuples()), cache)
        table = feature_table(files, cache, "logmel")
    if base is not None and len(base):
        table = pd.concat([table, base[base["kind"] == "non_drum"]], ignore_index=True)
    table = table[table["error"] == ""]
    return tuple(_non_drum_data(table[table["split"] == split], params) for split in ("train", "val"))


def _non_drum_data(part: pd.DataFrame, params: FeatureParams):
    from drum_pipeline.audio.feature_cache import feature_matrix
    from drum_pipeline.models.networks import SplitData

    return SplitData(feature_matrix(part, "logmel", params), np.full(len(part), -1), part["path"].to_numpy(str),
                     part["duration"].to_numpy(np.float32))


def taxonomy_classes(config: DrumPipelineConfig) -> list[str]:
    return list(load_taxonomy(config.settings().taxonomy_path).classes)


def _train_counts(data) -> dict:
    library, base = len(data["train_library"].y), data.get("base_train_files", 0)
    return {"train_files": library, "base_corpus_train_files": base,
            "synthetic_train_files": len(data["train"].y) - library - base}


def _training_metadata(config: DrumPipelineConfig, name: str, result, title: str) -> dict:
    history = result.history
    metadata = {
        "training_seconds": dg.MetadataValue.float(round(result.seconds, 1)),
        "epochs": len(history["loss"]),
        "curves": picture(config.settings().layout, f"{name}_training", history_png(history, title),
                          f"{title} training curves"),
    }
    if "val_accuracy" in history:
        metadata["best_val_accuracy"] = dg.MetadataValue.float(round(max(history["val_accuracy"]), 4))
    if "val_loss" in history:
        metadata["best_val_loss"] = dg.MetadataValue.float(round(min(history["val_loss"]), 5))
    return metadata


@dg.asset(code_version="1", **MODEL_INPUTS)
def synthetic_drums(context: dg.AssetExecutionContext, config: DrumPipelineConfig):
    """Synthesized drums for the training split only (domain randomisation): renders of every fine
    label the synthesizer knows and the taxonomy maps to a class, as log-mel spectrograms in the
    spectrogram_features table's columns. Rendered once for every model that trains on them."""
    from drum_pipeline.models.synthetic import synthetic_table

    settings = config.settings()
    taxonomy = load_taxonomy(settings.taxonomy_path)
    per_label = settings.training_config().synthetic_per_label
    table = synthetic_table(taxonomy.fine_to_class, list(taxonomy.classes), per_label, FeatureParams(), settings.seed)
    context.log.info(f"{len(table)} synthesized drums ({per_label} per fine label)")
    return dg.MaterializeResult(value=table, metadata={
        "path": dg.MetadataValue.path(str(settings.layout.table_path("synthetic_drums"))),
        "dagster/row_count": len(table), "per_fine_label": per_label,
        "per_class": markdown_table(table["label"].value_counts().rename_axis("label").reset_index())})


@dg.asset(code_version="1", **MODEL_INPUTS)
def base_corpus(context: dg.AssetExecutionContext, config: DrumPipelineConfig, label_extraction: pd.DataFrame):
    """The real sounds shipped with the package (real_sounds/base_corpus.py: drum one-shots and
    non-drums from Debian packages, as log-mel windows), in the spectrogram_features table's
    columns; they join every training beside the library (training_splits). A sound the library
    holds too is left to the library's label; DRUM_BASE_CORPUS=0 leaves the corpus out, and
    DRUM_BASE_CORPUS_EXCLUDE some of its sources."""
    from drum_pipeline.real_sounds.base_corpus import BASE_CORPUS_PATH, load_base_corpus, read_licences, with_embeddings

    settings = config.settings()
    if not settings.base_corpus:
        context.log.info("the base corpus is off (DRUM_BASE_CORPUS=0): the models learn from the library alone")
        return dg.MaterializeResult(value=pd.DataFrame(), metadata={"dagster/row_count": 0, "used": False})
    table = load_base_corpus(FeatureParams(), settings.base_corpus_exclude)
    if settings.accurate:
        table = with_embeddings(table)
    held = table["sha256"].isin(set(label_extraction["sha256"]))
    table, in_library = table[~held].reset_index(drop=True), int(held.sum())
    counts = pd.crosstab(table["source"], table["label"])
    licences = read_licences(BASE_CORPUS_PATH)
    excluded = ", ".join(settings.base_corpus_exclude) or "none"
    context.log.info(f"base corpus: {int((table['kind'] == 'drum').sum())} drums and "
                     f"{int((table['kind'] == 'non_drum').sum())} non-drums from {table['source'].nunique()} sources "
                     f"({in_library} the library holds too; sources left out: {excluded})")
    return dg.MaterializeResult(value=table, metadata={
        "path": dg.MetadataValue.path(str(settings.layout.table_path("base_corpus"))),
        "dagster/row_count": len(table), "used": True, "in_library_too": in_library,
        "excluded_sources": excluded,
        "per_source_and_class": markdown_table(counts.reset_index()),
        "licences": markdown_table(pd.DataFrame(sorted(licences.items()), columns=["source", "licence"]))})


@dg.asset(code_version="3", **MODEL_INPUTS)
def model1(context: dg.AssetExecutionContext, config: DrumPipelineConfig, spectrogram_features: pd.DataFrame,
           synthetic_drums: pd.DataFrame, base_corpus: pd.DataFrame) -> dg.MaterializeResult:
    """Model 1: a small CNN on MFCC frames (Keras), trained with augmentation, class weights and
    early stopping on the grouped validation split. Saved as a candidate with its label mapping."""
    from drum_pipeline.models.networks import train_model1

    settings, classes, params = config.settings(), taxonomy_classes(config), FeatureParams()
    data = training_splits(spectrogram_features, synthetic_drums, classes, params, base_corpus)
    result = train_model1(data["train"], data["val"], params, len(classes), settings.training_config(),
                          log=context.log.info)
    folder = save_model(settings.layout.models_dir, "model1", result.model, classes, params, history=result.history)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(folder)),
                                          **_train_counts(data),
                                          **_training_metadata(config, "model1", result, "Model 1 (MFCC CNN)")})


@dg.asset(code_version="4", **MODEL_INPUTS)
def model2_encoder(context: dg.AssetExecutionContext, config: DrumPipelineConfig, spectrogram_features: pd.DataFrame,
                   synthetic_drums: pd.DataFrame, base_corpus: pd.DataFrame) -> dg.MaterializeResult:
    """Model 2's convolutional autoencoder on log-mel spectrograms; its encoder gives the embedding
    used by the classifier and for finding similar sounds."""
    from drum_pipeline.models.networks import train_autoencoder

    settings, classes, params = config.settings(), taxonomy_classes(config), FeatureParams()
    data = training_splits(spectrogram_features, synthetic_drums, classes, params, base_corpus)
    result = train_autoencoder(data["train"], data["val"], params, settings.training_config(),
                               log=context.log.info)
    models_dir = settings.layout.models_dir
    save_model(models_dir, "model2_autoencoder", result.model, classes, params, history=result.history)
    folder = save_model(models_dir, "model2_encoder", result.extra["encoder"], classes, params)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(folder)),
                                          "embedding_size": int(result.extra["encoder"].output_shape[-1]),
                                          **_train_counts(data),
                                          **_training_metadata(config, "model2_autoencoder", result, "Model 2 autoencoder")})


@dg.asset(code_version="3", **{**MODEL_INPUTS, "deps": ["taxonomy", model2_encoder]})
def model2_classifier(context: dg.AssetExecutionContext, config: DrumPipelineConfig,
                      spectrogram_features: pd.DataFrame, synthetic_drums: pd.DataFrame,
                      base_corpus: pd.DataFrame) -> dg.MaterializeResult:
    """Model 2's classifier: a dense head on the encoder's embedding, then fine-tuned with it."""
    from drum_pipeline.models.networks import train_model2_classifier

    settings, classes, params = config.settings(), taxonomy_classes(config), FeatureParams()
    data = training_splits(spectrogram_features, synthetic_drums, classes, params, base_corpus)
    encoder, _ = load_model(model_dir(settings.layout.models_dir, "model2_encoder"), classes, params,
                            for_training=True)
    result = train_model2_classifier(encoder, data["train"], data["val"], len(classes),
                                     settings.training_config(), log=context.log.info)
    folder = save_model(settings.layout.models_dir, "model2_classifier", result.model, classes, params,
                        history=result.history)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(folder)), **_train_counts(data),
                                          **_training_metadata(config, "model2_classifier", result, "Model 2 classifier")})


def detector_negatives(settings, params: FeatureParams):
    """The synthesized non-drums the drum detector trains against (the same for a seed)."""
    from drum_pipeline.models.synthetic import synthetic_negatives

    return synthetic_negatives(max(8, settings.training_config().synthetic_per_label), params, settings.seed)


def fit_drum_detector(settings, spectrograms: pd.DataFrame, synthetic: pd.DataFrame, label_extraction: pd.DataFrame,
                      base: pd.DataFrame, synthesized, classes: list[str], params: FeatureParams):
    """The drum detector trained as the drum_detector asset trains it, against `synthesized`
    (detector_negatives) among others, with its training sets: (detector, drums, library and
    base-corpus non-drums)."""
    from drum_pipeline.models.rejection import train_drum_detector

    drums = training_splits(spectrograms, synthetic, classes, params, base)["train"]
    library_others, _ = library_non_drums(label_extraction, settings.library_dir, settings.layout.cache_dir, params,
                                          base)
    others = library_others.plus(synthesized)
    detector = train_drum_detector(drums.logmel, drums.duration, others.logmel, others.duration, params, settings.seed)
    return detector, drums, library_others


def out_of_source_drum_scores(settings, spectrograms: pd.DataFrame, synthetic: pd.DataFrame,
                              label_extraction: pd.DataFrame, base: pd.DataFrame, classes: list[str],
                              params: FeatureParams) -> np.ndarray:
    """The drum scores of the base corpus's validation drums (in training_splits' order), each from a
    detector trained without its source. A detector that trained on a source's other sounds passes
    its held-out ones more easily than a kit it never heard: on the demo library with the corpus
    less LMMS, the threshold keeping 97.5% of them was 0.61 in-source and 0.33 out of source."""
    from drum_pipeline.models.networks import splits_from_table, usable_rows
    from drum_pipeline.models.rejection import drum_scores

    usable = usable_rows(base, classes)
    held = usable[usable["split"] == "val"]
    synthesized = detector_negatives(settings, params)
    scores = np.zeros(len(held), np.float32)
    for source in sorted(held["source"].unique()):
        rows = (held["source"] == source).to_numpy()
        detector = fit_drum_detector(settings, spectrograms, synthetic, label_extraction,
                                     base[base["source"] != source], synthesized, classes, params)[0]
        val = splits_from_table(held[rows], classes, params)["val"]
        scores[rows] = drum_scores(detector, val.logmel, val.duration, params)
    return scores


@dg.asset(code_version="4", **MODEL_INPUTS)
def drum_detector(context: dg.AssetExecutionContext, config: DrumPipelineConfig, spectrogram_features: pd.DataFrame,
                  synthetic_drums: pd.DataFrame, label_extraction: pd.DataFrame,
                  base_corpus: pd.DataFrame) -> dg.MaterializeResult:
    """Is it a drum one-shot? Gradient-boosted trees on the descriptors of the window and the
    duration (models/descriptors.py), trained on the library's drums (train split) and synthesized
    drums against the library's non-drum files (label_extraction's `non_drum`, half of their
    folders) and synthesized non-drums (loops, notes, chords, noise beds, sweeps, voices). The
    sorting_thresholds asset picks its threshold on held-out drums."""
    settings, classes, params = config.settings(), taxonomy_classes(config), FeatureParams()
    synthesized = detector_negatives(settings, params)
    detector, drums, library_others = fit_drum_detector(
        settings, spectrogram_features, synthetic_drums, label_extraction, base_corpus, synthesized, classes, params)
    folder = save_model(settings.layout.models_dir, "drum_detector", detector, classes, params)
    context.log.info(f"drum detector: {len(drums.y)} drums against {len(library_others.y)} non-drum library files "
                     f"and {len(synthesized.y)} synthesized non-drums")
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(folder)), "drums": len(drums.y),
                                          "library_non_drums": len(library_others.y),
                                          "synthesized_non_drums": len(synthesized.y)})


@dg.asset(code_version="4", **MODEL_INPUTS)
def descriptor_model(context: dg.AssetExecutionContext, config: DrumPipelineConfig,
                     spectrogram_features: pd.DataFrame, base_corpus: pd.DataFrame) -> dg.MaterializeResult:
    """The ensemble's third member: gradient-boosted trees on the descriptors of the window and the
    duration (models/descriptors.py), trained on real drums, the library's and the base corpus's: on
    the train split, for the evaluation; deployed_models refits it on every one."""
    from drum_pipeline.models.descriptors import train_descriptor_classifier

    settings, classes, params = config.settings(), taxonomy_classes(config), FeatureParams()
    train = training_splits(spectrogram_features, None, classes, params, base_corpus)["train"]
    model = train_descriptor_classifier(train.logmel, train.duration, train.y, params, settings.seed, train.weight)
    folder = save_model(settings.layout.models_dir, "descriptor_model", model, classes, params)
    context.log.info(f"descriptor classifier: {len(train.y)} drums (library and base corpus)")
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(folder)), "train_files": len(train.y)})


@dg.asset(code_version="1", **MODEL_INPUTS)
def embedding_model(context: dg.AssetExecutionContext, config: DrumPipelineConfig,
                    spectrogram_features: pd.DataFrame, base_corpus: pd.DataFrame) -> dg.MaterializeResult:
    """The accurate mode's fourth member (DRUM_ACCURATE=1, `--accurate`): a logistic regression on
    the pretrained embedding of real drums, the library's and the base corpus's (models/embedding_member.py),
    on the train split; deployed_models refits it on every one. Without the accurate mode there is none
    (a candidate of an earlier run is removed)."""
    from drum_pipeline.models.embedding_member import EMBEDDING_MODEL, train_embedding_classifier
    from drum_pipeline.models.store import remove_model

    settings, classes, params = config.settings(), taxonomy_classes(config), FeatureParams()
    if not settings.accurate:
        remove_model(settings.layout.models_dir, EMBEDDING_MODEL)
        context.log.info("no embedding member: the accurate mode is off (DRUM_ACCURATE=1 or --accurate turns it on)")
        return dg.MaterializeResult(metadata={"used": False})
    train = training_splits(spectrogram_features, None, classes, params, base_corpus)["train"]
    model = train_embedding_classifier(train.embedding, train.y, train.weight, settings.seed)
    folder = save_model(settings.layout.models_dir, EMBEDDING_MODEL, model, classes, params)
    context.log.info(f"embedding member: {len(train.y)} drums (library and base corpus)")
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(folder)), "used": True,
                                          "train_files": len(train.y)})


@dg.asset(group_name="model_selection", deps=["taxonomy"], code_version="2")
def cross_validation(context: dg.AssetExecutionContext, config: DrumPipelineConfig,
                     spectrogram_features: pd.DataFrame):
    """Grouped cross-validation by pack over a small grid of training configurations (Model 1 for
    each, Model 2 for the default, the baseline once), on the train and val splits; mean and
    spread of macro-F1. Launched on purpose (the model_selection job): it trains many models."""
    from drum_pipeline.models.selection import grid_from, grouped_cross_validation, summarize

    settings = config.settings()
    cv = grouped_cross_validation(spectrogram_features, taxonomy_classes(config), FeatureParams(),
                                  load_taxonomy(settings.taxonomy_path).fine_to_class,
                                  grid_from(settings.training_config()), log=context.log.info)
    return dg.MaterializeResult(value=cv, metadata={
        "path": dg.MetadataValue.path(str(settings.layout.table_path("cross_validation"))),
        "summary": markdown_table(summarize(cv)),
        "folds": int(cv["fold"].nunique()),
    })
