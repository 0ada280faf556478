"""Where models live and how they are saved and loaded, each with its label mapping.

A training run writes `models/candidate/<name>/`; the evaluation promotes the candidates to
`models/deployed/<name>/` only when they pass its checks, and the archive is classified with
the deployed ones. Each folder holds `model.keras` (or `model.joblib` for scikit-learn models,
`trees.npz` for trees exported to the inference bundle) and `labels.json`: the classes in output
order, the feature parameters' digest and whatever else training recorded (temperature, history).
Loading checks the mapping against the taxonomy and the feature parameters, and refuses a model
that does not match.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import joblib

from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.models.embedding_member import LOGISTIC_FILE, EmbeddingClassifier

CANDIDATE, DEPLOYED = "candidate", "deployed"
# Keras; trees and the embedding member exported for the bundle; scikit-learn (and the member, in the store)
MODEL_FILE_NAMES = ("model.keras", "trees.npz", LOGISTIC_FILE, "model.joblib")


class ModelMismatchError(ValueError):
    """A saved model that does not fit the current taxonomy or feature parameters (or is missing)."""


def model_dir(models_root: Path, name: str, stage: str = CANDIDATE) -> Path:
    return Path(models_root) / stage / name


def save_model(models_root: Path, name: str, model, classes: list[str], params: FeatureParams,
               stage: str = CANDIDATE, **meta) -> Path:
    """Write the model and its labels.json atomically into models/<stage>/<name>/ (a candidate by default)."""
    target = model_dir(models_root, name, stage)
    with staged_dir(target) as staging:
        if hasattr(model, "save"):
            model.save(staging / "model.keras")
        else:
            joblib.dump(model, staging / "model.joblib")
        write_labels(staging, name, classes, params, **meta)
    return target


def write_labels(folder: Path, name: str, classes: list[str], params: FeatureParams, **meta) -> None:
    """A model folder's labels.json: its name, the classes in output order and the feature parameters' digest."""
    mapping = {"model": name, "classes": list(classes), "feature_params": params.digest(), **meta}
    (Path(folder) / "labels.json").write_text(json.dumps(mapping, indent=2))


def update_meta(models_root: Path, name: str, stage: str = CANDIDATE, **meta) -> None:
    path = model_dir(models_root, name, stage) / "labels.json"
    mapping = {**json.loads(path.read_text()), **meta}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(mapping, indent=2))
    os.replace(tmp, path)


@contextlib.contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """A fresh folder beside `target` to fill; it replaces `target` whole when the block ends, and
    is removed when the block fails, so readers never see half a folder."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield staging
        _replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace_dir(staging: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(staging, target)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def remove_model(models_root: Path, name: str, stage: str = CANDIDATE) -> None:
    """Remove a model folder, if there is one."""
    shutil.rmtree(model_dir(models_root, name, stage), ignore_errors=True)


def promote(models_root: Path, names: list[str]) -> None:
    """Copy the candidates `names` over the deployed models."""
    for name in names:
        with staged_dir(model_dir(models_root, name, DEPLOYED)) as staging:
            shutil.copytree(model_dir(models_root, name, CANDIDATE), staging, dirs_exist_ok=True)


def read_mapping(folder: Path, classes: list[str], params: FeatureParams) -> dict:
    """labels.json of a model folder, checked against the taxonomy's classes and the feature parameters."""
    path = Path(folder) / "labels.json"
    if not path.exists():
        raise ModelMismatchError(f"no model in {folder}: materialize the models (drum-pipeline run) first")
    mapping = json.loads(path.read_text())
    if mapping.get("classes") != list(classes):
        raise ModelMismatchError(
            f"{folder.name} was trained for classes {mapping.get('classes')} but the taxonomy has {list(classes)}: "
            "retrain the models")
    if mapping.get("feature_params") != params.digest():
        raise ModelMismatchError(f"{folder.name} was trained on other feature parameters: retrain the models")
    return mapping


def load_model(folder: Path, classes: list[str], params: FeatureParams, for_training: bool = False):
    """(model, mapping) of a model folder, checked like read_mapping. Loaded once per process,
    unless `for_training` (a model that will be changed gets its own copy)."""
    mapping = read_mapping(folder, classes, params)
    folder = Path(folder)
    file = next((folder / name for name in MODEL_FILE_NAMES if (folder / name).exists()), folder / MODEL_FILE_NAMES[-1])
    load = _load_file.__wrapped__ if for_training else _load_file
    return load(str(file), file.stat().st_mtime_ns), mapping


@lru_cache(maxsize=16)
def _load_file(path: str, mtime_ns: int):
    if path.endswith(".joblib"):
        return joblib.load(path)
    if path.endswith(LOGISTIC_FILE):
        return EmbeddingClassifier.load(path)
    if path.endswith(".npz"):
        from drum_pipeline.models.descriptors import ExportedTrees

        return ExportedTrees.load(path)
    import keras

    import drum_pipeline.models.networks  # noqa: F401  registers the custom layers

    return keras.models.load_model(path)
