"""The accurate mode's ensemble member: a logistic regression on the pretrained sound embedding
(audio/embeddings.py) of real drums, the library's and the base corpus's, as the descriptor trees
are trained. It answers as if every class were equally common (balanced class weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

EMBEDDING_MODEL = "embedding_model"  # its models folder
LOGISTIC_FILE = "logistic.npz"  # the member in the inference bundle, as arrays


class EmbeddingClassifier:
    """Standardised embeddings, then a multinomial logistic regression; predict_proba with numpy
    alone once fitted (the bundle keeps its arrays, so classifying needs no scikit-learn)."""

    def __init__(self, arrays: dict[str, np.ndarray] | None = None):
        self.arrays = arrays or {}

    def fit(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, c: float = 0.1,
            seed: int = 7) -> EmbeddingClassifier:
        from sklearn.linear_model import LogisticRegression

        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
        model.fit((x - mean) / scale, y, sample_weight=weight)
        coef, intercept = model.coef_, model.intercept_
        if len(model.classes_) == 2:  # scikit-learn keeps one row for two classes
            coef, intercept = np.vstack([-coef, coef]) / 2, np.concatenate([-intercept, intercept]) / 2
        self.arrays = {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32),
                       "coef": coef.astype(np.float64), "intercept": intercept.astype(np.float64),
                       "classes": np.asarray(model.classes_)}
        return self

    @property
    def classes_(self) -> np.ndarray:
        return self.arrays["classes"]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        a = self.arrays
        logits = ((np.asarray(x, np.float32) - a["mean"]) / a["scale"]) @ a["coef"].T + a["intercept"]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def write(self, path: Path) -> None:  # not `save`: the model store takes a `save` for a Keras model
        np.savez(path, **self.arrays)

    @classmethod
    def load(cls, path: Path) -> EmbeddingClassifier:
        with np.load(path, allow_pickle=False) as saved:
            return cls({name: saved[name] for name in saved.files})


def train_embedding_classifier(embedding: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None,
                               seed: int = 7) -> EmbeddingClassifier:
    """The member fitted on real drums' embeddings (class indices `y`, rows weighed by `weight`)."""
    return EmbeddingClassifier().fit(np.asarray(embedding, np.float32), y, weight, seed=seed)
