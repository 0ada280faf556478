"""The inference bundle: the deployed models exported for production, so that classifying needs
no TensorFlow.

`models/bundle/` holds Model 1, Model 2's classifier and Model 2's encoder as LiteRT (TFLite,
float32) files, run with `ai-edge-litert`; `bundle.json` with the classes, the feature
parameters and their digest, the temperatures and what the bundle was built from; and
`reference.npz`, the known sounds (embeddings, labels, fine labels, mean, scale, typical
distance); and the trees (the descriptor classifier, the drum detector) as arrays, with their
labels.json; in the accurate mode, the embedding member as arrays. Exporting needs TensorFlow
(the `train` extra); loading takes milliseconds and imports neither TensorFlow nor scikit-learn.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.audio.hashing import sha256_file
from drum_pipeline.models.descriptors import ExportedTrees
from drum_pipeline.models.embedding_member import EMBEDDING_MODEL, LOGISTIC_FILE
from drum_pipeline.models.inference import ModelSet, Reference, load_optional_model
from drum_pipeline.models.store import (
    DEPLOYED,
    MODEL_FILE_NAMES,
    ModelMismatchError,
    load_model,
    model_dir,
    staged_dir,
    write_labels,
)

BUNDLE_FORMAT = 2  # 2: the trees as arrays (trees.npz), not scikit-learn pickles
BATCH_SIZE = 64  # every interpreter runs this fixed batch (the last one zero-padded): nothing is re-planned
TREE_MODELS = ("descriptor_model", "drum_detector")  # scikit-learn trees: exported as arrays
# the file of each model in the bundle, by its deployed model's name
MODEL_FILES = {"model1": "model1.tflite", "model2_classifier": "model2.tflite", "model2_encoder": "encoder.tflite"}
THRESHOLDS_FILE = "sorting_thresholds.json"  # the calibrated sorting thresholds travel with the models


class LiteModel:
    """One LiteRT model with a fixed batch size, answering like a Keras model's predict_on_batch."""

    def __init__(self, path: Path, batch_size: int = BATCH_SIZE, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        # LiteRT runs on one thread unless told; the models run between extractions, when every core is free
        self._interpreter = Interpreter(model_path=str(path), num_threads=threads or os.cpu_count())
        self._input = self._interpreter.get_input_details()[0]
        self._interpreter.resize_tensor_input(self._input["index"], [batch_size, *self._input["shape"][1:]])
        self._interpreter.allocate_tensors()
        self._output = self._interpreter.get_output_details()[0]
        self.batch_size = batch_size
        self.output_shape = (None, *self._output["shape"][1:])

    def predict_on_batch(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        out = []
        for start in range(0, len(x), self.batch_size):
            batch = x[start : start + self.batch_size]
            n = len(batch)
            if n < self.batch_size:
                batch = np.concatenate([batch, np.zeros((self.batch_size - n, *batch.shape[1:]), np.float32)])
            self._interpreter.set_tensor(self._input["index"], batch)
            self._interpreter.invoke()
            out.append(self._interpreter.get_tensor(self._output["index"])[:n])
        return np.concatenate(out) if out else np.zeros((0, *self.output_shape[1:]), np.float32)


def bundle_sources(models_root: Path, *tables: Path) -> dict[str, str]:
    """sha256 of what a bundle is built from: each deployed model and its labels.json, and the
    `tables` (the known sounds, the thresholds). Those that do not exist are left out."""
    files = [model_dir(models_root, name, DEPLOYED) / file for name in (*MODEL_FILES, *TREE_MODELS, EMBEDDING_MODEL)
             for file in (*MODEL_FILE_NAMES, "labels.json")] + [Path(table) for table in tables]
    return {f"{f.parent.name}/{f.name}": sha256_file(f) for f in files if f.exists()}


def is_current(bundle_dir: Path, models_root: Path, *tables: Path) -> bool:
    """Whether the bundle exists and was built from the deployed models and known sounds there now
    (a bundle alone, without the models it came from, is current)."""
    path = Path(bundle_dir) / "bundle.json"
    if not path.exists():
        return False
    manifest = json.loads(path.read_text())
    if manifest.get("format") != BUNDLE_FORMAT:
        return False
    recorded = manifest.get("sources", {})
    now = bundle_sources(models_root, *tables)
    return all(recorded.get(name) == digest for name, digest in now.items())


def export_bundle(models: ModelSet, reference: Reference, params: FeatureParams, target: Path,
                  sources: dict[str, str] | None = None, trees: list[Path] = (), thresholds: dict | None = None) -> Path:
    """Convert Keras models to LiteRT (float32, no quantisation) and write them with the known
    sounds, the `trees` model folders (scikit-learn, exported as arrays) and the sorting
    `thresholds` into the bundle folder `target`, atomically. Needs TensorFlow."""
    import tensorflow as tf

    target = Path(target)
    with staged_dir(target) as staging:
        for folder in map(Path, trees):
            (staging / folder.name).mkdir()
            shutil.copy2(folder / "labels.json", staging / folder.name / "labels.json")
            trees_model, _ = load_model(folder, models.classes, params)
            ExportedTrees.from_trees(trees_model).save(staging / folder.name / "trees.npz")
        if models.embedding_model is not None:  # the accurate mode's member, as arrays
            (staging / EMBEDDING_MODEL).mkdir()
            models.embedding_model.write(staging / EMBEDDING_MODEL / LOGISTIC_FILE)
            write_labels(staging / EMBEDDING_MODEL, EMBEDDING_MODEL, models.classes, params)
        for model, file in ((models.model1, MODEL_FILES["model1"]), (models.model2, MODEL_FILES["model2_classifier"]),
                            (models.encoder, MODEL_FILES["model2_encoder"])):
            converter = tf.lite.TFLiteConverter.from_keras_model(model)  # float32: no quantisation
            with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the SavedModel it passes through
                (staging / file).write_bytes(converter.convert())
        np.savez(staging / "reference.npz", embeddings=reference.embeddings.astype(np.float32),
                 labels=reference.labels.astype(str), fine_labels=reference.fine_labels.astype(str),
                 mean=reference.mean.astype(np.float32), scale=reference.scale.astype(np.float32),
                 typical_distance=np.float64(reference.typical_distance))
        manifest = {"format": BUNDLE_FORMAT, "classes": list(models.classes), "feature_params": asdict(params),
                    "feature_params_digest": params.digest(), "temperatures": models.temperatures,
                    "models": MODEL_FILES, "reference": "reference.npz", "batch_size": BATCH_SIZE,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sources": sources or {}}
        (staging / "bundle.json").write_text(json.dumps(manifest, indent=2))
        (staging / THRESHOLDS_FILE).write_text(json.dumps(thresholds or {}, indent=1))
    return target


def bundle_thresholds(bundle_dir: Path) -> dict:
    """The sorting thresholds a bundle was exported with ({} for none)."""
    path = Path(bundle_dir) / THRESHOLDS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def bundle_megabytes(bundle_dir: Path) -> float:
    """The size of a bundle's files, subfolders included."""
    return sum(f.stat().st_size for f in Path(bundle_dir).rglob("*") if f.is_file()) / 2**20


def load_bundle(bundle_dir: Path, classes: list[str], params: FeatureParams) -> tuple[ModelSet, Reference]:
    """(models, known sounds) of a bundle, checked against the taxonomy's classes and the feature
    parameters; ModelMismatchError when it is missing or does not fit."""
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / "bundle.json"
    if not path.exists():
        raise ModelMismatchError(f"no inference bundle in {bundle_dir}: run `drum-pipeline export` "
                                 "(on a machine with the trained models)")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != BUNDLE_FORMAT:
        raise ModelMismatchError(f"the bundle in {bundle_dir} was exported by another version of drum-pipeline: "
                                 "export it again (drum-pipeline export)")
    if manifest.get("classes") != list(classes):
        raise ModelMismatchError(f"the bundle in {bundle_dir} was exported for classes {manifest.get('classes')} "
                                 f"but the taxonomy has {list(classes)}: export it again")
    if manifest.get("feature_params_digest") != params.digest():
        raise ModelMismatchError(f"the bundle in {bundle_dir} was exported for other feature parameters: export it again")
    files = manifest["models"]
    batch_size = manifest.get("batch_size", BATCH_SIZE)
    models = ModelSet(list(classes), *(LiteModel(bundle_dir / files[name], batch_size) for name in MODEL_FILES),
                      {name: float(t) for name, t in manifest["temperatures"].items()},
                      load_optional_model(bundle_dir, classes, params, stage=None), params,
                      load_optional_model(bundle_dir, classes, params, stage=None, name=EMBEDDING_MODEL))
    with np.load(bundle_dir / manifest["reference"], allow_pickle=False) as known:
        reference = Reference(known["embeddings"], known["labels"], known["fine_labels"], known["mean"],
                              known["scale"], float(known["typical_distance"]))
    return models, reference
