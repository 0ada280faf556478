"""Grouped cross-validation by pack, over a small grid of training configurations.

The folds hold out whole packs of the train and val splits (the test split stays untouched for
the evaluation): for fold k, pack-fold k is tested, the next one stops training early, and the
rest trains. Reports macro-F1 per configuration, model and fold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import PurePosixPath

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.models.evaluation import macro_f1
from drum_pipeline.models.networks import (
    SplitData,
    TrainingConfig,
    baseline_probabilities,
    splits_from_table,
    train_autoencoder,
    train_baseline,
    train_model1,
    train_model2_classifier,
)
from drum_pipeline.models.synthetic import synthetic_split

GRID = {"default": {}, "no synthesized drums": {"synthetic_per_label": 0}, "no augmentation": {"augment": False}}


def grid_from(base: TrainingConfig, grid: dict[str, dict] = GRID) -> dict[str, TrainingConfig]:
    """The grid's configurations, each a change to `base`."""
    return {name: replace(base, **changes) for name, changes in grid.items()}


def pack_of(path: str) -> str:
    parts = PurePosixPath(path).parts
    return parts[0] if len(parts) > 1 else "."


def _macro_f1(y: np.ndarray, probabilities: np.ndarray) -> float:
    return macro_f1(y, probabilities.argmax(axis=1))


def grouped_cross_validation(spectrograms: pd.DataFrame, classes: list[str], params: FeatureParams,
                             fine_to_class: dict[str, str], grid: dict[str, TrainingConfig] | None = None,
                             folds: int = 5, model2_configs: int = 1,
                             log: Callable[[str], None] = print) -> pd.DataFrame:
    """One row per (config, model, fold): macro_f1 on the held-out packs. Model 2 (the costly
    one) runs for the first `model2_configs` configurations of the grid; the baseline once, on
    the library alone. The models train with each configuration's synthesized drums."""
    grid = grid or grid_from(TrainingConfig())
    synthetic = {config.synthetic_per_label: synthetic_split(fine_to_class, classes, config.synthetic_per_label,
                                                             params, config.seed) for config in grid.values()}
    pool = spectrograms[spectrograms["split"].isin(["train", "val"])].copy()
    pool["split"] = "train"
    packs = pool["path"].map(pack_of).to_numpy()
    n_folds = min(folds, len(set(packs)))
    if n_folds < 3:
        raise ValueError(f"cross-validation needs at least 3 packs outside the test split, found {n_folds}")
    fold_of = np.empty(len(pool), dtype=int)
    for fold, (_, index) in enumerate(GroupKFold(n_splits=n_folds).split(pool, groups=packs)):
        fold_of[index] = fold
    rows = []
    n = len(classes)
    for fold in range(n_folds):
        part = pool.assign(split=np.select([fold_of == fold, fold_of == (fold + 1) % n_folds], ["test", "val"], "train"))
        data = splits_from_table(part, classes, params)
        train, val, test = data["train"], data["val"], data["test"]
        baseline = train_baseline(train, params)
        rows.append(("baseline", "baseline", fold, _macro_f1(test.y, baseline_probabilities(
            baseline, test.mfcc(params), n)), len(test.y)))
        for position, (name, config) in enumerate(grid.items()):
            train = data["train"].plus(synthetic[config.synthetic_per_label])
            result = train_model1(train, val, params, n, replace(config, seed=config.seed + fold))
            rows.append((name, "model1", fold, _macro_f1(test.y, result.model.predict(
                test.mfcc(params)[..., None], verbose=0)), len(test.y)))
            if position < model2_configs:
                rows.append((name, "model2", fold, _model2_f1(train, val, test, params, n, config), len(test.y)))
            scores = ", ".join(f"{r[1]} {r[3]:.3f}" for r in rows if r[0] == name and r[2] == fold)
            log(f"fold {fold + 1}/{n_folds}, {name}: {scores}")
    return pd.DataFrame(rows, columns=["config", "model", "fold", "macro_f1", "test_files"])


def _model2_f1(train: SplitData, val: SplitData, test: SplitData, params: FeatureParams, n: int,
               config: TrainingConfig) -> float:
    encoder = train_autoencoder(train, val, params, config).extra["encoder"]
    model = train_model2_classifier(encoder, train, val, n, config).model
    return _macro_f1(test.y, model.predict(test.logmel[..., None], verbose=0))


def summarize(cv: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread (standard deviation) of macro-F1 per configuration and model."""
    summary = cv.groupby(["config", "model"], sort=False)["macro_f1"].agg(["mean", "std", "count"]).reset_index()
    return summary.round(4)
