"""The chance that a file was sorted wrong, learned where the truth is known.

A logistic regression reads what the index says of a file (the ensemble's and each model's
confidence, whether the models agree, the drum detector's score, the novelty, the duration,
and whether the rules sent it to `unsorted`) and predicts whether its sort is wrong: a drum in
the wrong class or in `unsorted`, a non-drum in a class. It is fitted on the library's
validation split (drums, and non-drums the detector never heard) with the thresholds in force,
and kept as plain numbers in the sorting thresholds' value. On the real-sound corpus, ranking by
1 - confidence puts fewer mistakes at the top of the queue than a random pick: the least
confident files are mostly non-drums already, rightly, in `unsorted`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from drum_pipeline.models.rejection import UNSORTED

# What is read of an index row; each also enters multiplied by the unsorted flag, since doubt
# means something else for a file the rules kept out of the classes.
BASE_FEATURES = ["confidence", "model1_confidence", "model2_confidence", "model1_agrees", "model2_agrees",
                 "drum_score", "log_novelty", "log_duration"]
FEATURES = [*BASE_FEATURES, "unsorted", *(f"unsorted*{name}" for name in BASE_FEATURES)]
MIN_EACH = 5  # fewer wrong (or right) files than this on the validation split: nothing to learn from


def mistake_features(rows: pd.DataFrame) -> np.ndarray:
    """The FEATURES of index rows (N, len(FEATURES))."""
    def column(name: str, fill: float) -> np.ndarray:
        return rows[name].astype(float).fillna(fill).to_numpy()

    unsorted = (rows["label"] == UNSORTED).to_numpy(float)
    base = [column("confidence", 0.0), column("model1_confidence", 0.0), column("model2_confidence", 0.0),
            (rows["model1_label"] == rows["predicted_label"]).to_numpy(float),
            (rows["model2_label"] == rows["predicted_label"]).to_numpy(float),
            column("drum_score", 1.0),  # no detector deployed: nothing says it is not a drum
            np.log1p(column("novelty", 0.0)), np.log(np.clip(column("duration", 0.01), 0.01, None))]
    return np.column_stack([*base, unsorted, *(unsorted * b for b in base)]) if len(rows) else np.zeros((0, len(FEATURES)))


def sorted_rows(predictions: dict[str, np.ndarray], drum_scores: np.ndarray, novelty: np.ndarray,
                duration: np.ndarray, rules) -> pd.DataFrame:
    """Index rows of sounds that are not in the archive (a held-out split): their prediction
    columns (inference.prediction_columns), drum scores, novelty and durations, and the label the
    sorting `rules` give them."""
    from drum_pipeline.models.rejection import reason_of

    rows = pd.DataFrame({**predictions, "drum_score": drum_scores, "novelty": novelty, "duration": duration})
    reasons = [reason_of(row, rules) for row in rows.itertuples(index=False)]
    return rows.assign(reason=reasons, label=np.where(np.array(reasons, dtype=object) != "", UNSORTED,
                                                      rows["predicted_label"]))


def sort_is_wrong(labels: pd.Series, truth: pd.Series) -> np.ndarray:
    """Whether each sort is wrong: a drum (truth a class) not in its class, a non-drum (truth `non_drum`) not unsorted."""
    labels, truth = labels.to_numpy(str), truth.to_numpy(str)
    return np.where(truth == "non_drum", labels != UNSORTED, labels != truth)


def fit_mistake_model(rows: pd.DataFrame, wrong: np.ndarray) -> dict | None:
    """A logistic regression of `wrong` on the rows' features, as plain numbers (JSON); None when
    fewer than MIN_EACH files are wrong, or right."""
    from sklearn.linear_model import LogisticRegression

    wrong = np.asarray(wrong, bool)
    if min(wrong.sum(), (~wrong).sum()) < MIN_EACH:
        return None
    x = mistake_features(rows)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / scale, wrong)
    return {"features": FEATURES, "mean": mean.round(6).tolist(), "scale": scale.round(6).tolist(),
            "coef": model.coef_[0].round(6).tolist(), "intercept": round(float(model.intercept_[0]), 6),
            "files": int(len(wrong)), "wrong": int(wrong.sum())}


def mistake_chance(model: dict | None, rows: pd.DataFrame) -> np.ndarray:
    """The chance that each row's sort is wrong; without a model (or one made for other
    features), the ensemble's doubt, 1 - confidence."""
    if not model or model.get("features") != FEATURES:
        return 1 - rows["confidence"].astype(float).fillna(0.0).to_numpy()
    z = (mistake_features(rows) - np.array(model["mean"])) / np.array(model["scale"])
    return 1 / (1 + np.exp(-(z @ np.array(model["coef"]) + model["intercept"])))


def top_share_wrong(chance: np.ndarray, wrong: np.ndarray, count: int) -> float:
    """The share of wrong sorts among the `count` files of highest chance."""
    top = np.argsort(-np.asarray(chance), kind="stable")[:count]
    return float(np.asarray(wrong)[top].mean()) if len(top) else 0.0
