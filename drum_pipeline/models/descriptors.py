"""Descriptors of a sound (AFEC's recipe, reduced) and the descriptor classifier: gradient-boosted
trees on them, the ensemble's third member beside the two CNNs.

The descriptors read the cached log-mel window and the file's duration: MFCC statistics, band
energies over time frames, the spectrum's shape (centroid, spread, flatness) and loudness over
time, attack, effective length, onset count, tonality and duration. On real kits the CNNs had
not heard, these travel better than the learned features: in the real-sound benchmark (each
source held out in turn, bench/REAL_SOUNDS.md), trees trained on the other sources' drums reached
macro-F1 0.72 against the two CNNs' 0.49; the pipeline with all three reached 0.71.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drum_pipeline.audio.features import FeatureParams, mfcc_from_logmel

COARSE_FRAMES = ((0, 5), (5, 18), (18, None))  # about 0-50 ms, 50-200 ms, 200 ms to the end of the window
FINE_FRAMES = ((0, 3), (3, 8), (8, 18), (18, 40), (40, None))  # 0-35 ms, -93, -210, -460 ms, the rest
COARSE_BANDS, FINE_BANDS = 8, 16


def descriptors(logmel: np.ndarray, duration: np.ndarray, params: FeatureParams) -> np.ndarray:
    """(N, D) descriptors of log-mel windows (N, n_mels, frames; dB, 0 at the loudest bin) and
    the files' durations in seconds."""
    logmel = np.asarray(logmel, np.float32)
    n, mels, frames = logmel.shape
    mfcc = mfcc_from_logmel(logmel, params.n_mfcc)
    power = 10.0 ** (logmel / 10.0)
    frame_power = power.sum(axis=1) + 1e-12  # (N, frames)
    frame_db = 10.0 * np.log10(frame_power)
    frame_db -= frame_db.max(axis=1, keepdims=True)
    seconds_per_frame = params.hop_length / params.sample_rate
    flux = np.maximum(np.diff(logmel, axis=2), 0).mean(axis=1)  # (N, frames-1)
    peaks = (flux[:, 1:-1] > flux[:, :-2]) & (flux[:, 1:-1] >= flux[:, 2:])
    strong = flux[:, 1:-1] > np.maximum(0.3 * flux.max(axis=1, keepdims=True), 1.0)
    loud = frame_db > -30
    peakiness = logmel.max(axis=1) - np.median(logmel, axis=1)  # per frame: a tone stands out of its spectrum
    band = np.arange(mels, dtype=np.float32)[None, :, None]
    centroid = (power * band).sum(axis=1) / frame_power  # (N, frames), in mel bands
    spread = np.sqrt((power * (band - centroid[:, None]) ** 2).sum(axis=1) / frame_power)
    flatness = np.exp(np.log(power + 1e-12).mean(axis=1)) / (power.mean(axis=1) + 1e-12)

    def band_frames(bands: int, time_frames) -> list[np.ndarray]:
        energies = logmel.reshape(n, bands, mels // bands, frames).mean(axis=2)
        return [energies[:, :, start:end].mean(axis=2) for start, end in time_frames]

    def weighted(values: np.ndarray) -> list[np.ndarray]:  # per fine time frame, weighted by the frames' power
        return [((values[:, a:b] * frame_power[:, a:b]).sum(axis=1) / frame_power[:, a:b].sum(axis=1))[:, None]
                for a, b in FINE_FRAMES]

    duration = np.asarray(duration, np.float32).reshape(-1, 1)
    return np.concatenate([
        mfcc.mean(axis=2), mfcc.std(axis=2), *band_frames(COARSE_BANDS, COARSE_FRAMES),
        (frame_db > -12).sum(axis=1, keepdims=True) * seconds_per_frame,
        loud.sum(axis=1, keepdims=True) * seconds_per_frame,
        (peaks & strong).sum(axis=1, keepdims=True),
        (peakiness * loud).sum(axis=1, keepdims=True) / np.maximum(loud.sum(axis=1, keepdims=True), 1),
        np.log(np.clip(duration, 0.005, 60.0)),
        *band_frames(FINE_BANDS, FINE_FRAMES),
        np.argmax(frame_db, axis=1)[:, None].astype(np.float32) * seconds_per_frame,  # attack
        *weighted(centroid), *weighted(spread), *weighted(flatness),
        *(frame_db[:, a:b].mean(axis=1, keepdims=True) for a, b in FINE_FRAMES),
    ], axis=1).astype(np.float32)


def as_if_equally_common(probabilities: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Class probabilities divided by the classes' training shares and normalised again."""
    balanced = probabilities / shares
    return balanced / balanced.sum(axis=1, keepdims=True)


class BalancedTrees:
    """The trees both the drum detector and the descriptor classifier use: gradient-boosted trees
    whose probabilities are divided by the training shares of the classes (and normalised again), so
    they answer as if every class were equally common. Unlike class weights, this gives the trees no
    sample weights, which make scikit-learn's binning (>= 1.8) 25-35x slower on a few thousand rows:
    the demo's drum detector trained in 29 s with class weights, 2.6 s so."""

    def __init__(self, seed: int = 7):
        self.seed = seed

    def fit(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> BalancedTrees:
        """Fit on rows `x` and classes `y`; `weight` (optional) weighs rows within their class
        (about 2x slower to fit, so only given where rows weigh differently)."""
        from sklearn.ensemble import HistGradientBoostingClassifier  # only training needs scikit-learn

        if weight is not None and np.all(weight == weight[0]):
            weight = None
        self.trees_ = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=self.seed).fit(
            x, y, sample_weight=weight)
        self.classes_ = self.trees_.classes_
        self.n_features_in_ = self.trees_.n_features_in_
        weight = np.ones(len(y)) if weight is None else np.asarray(weight, np.float64)
        self.shares_ = np.array([weight[y == c].sum() / weight.sum() for c in self.classes_])
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return as_if_equally_common(self.trees_.predict_proba(x), self.shares_)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(x).argmax(axis=1)]


class ExportedTrees:
    """Trained BalancedTrees as plain arrays (the inference bundle's `trees.npz`): they answer the same
    probabilities with numpy alone, so classifying does not import scikit-learn (about 1 s of a cold
    start). Every node of every tree is one row of flat arrays; a leaf points to itself."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays
        self.classes_ = arrays["classes"]
        self.n_features_in_ = int(arrays["n_features"])

    @classmethod
    def from_trees(cls, model) -> ExportedTrees:
        """The arrays of a fitted BalancedTrees (or of bare HistGradientBoostingClassifier trees)."""
        trees = getattr(model, "trees_", model)
        shares = getattr(model, "shares_", np.ones(len(trees.classes_)))
        per_iteration = len(trees._predictors[0])
        nodes = [predictor.nodes for iteration in trees._predictors for predictor in iteration]
        if any(node["is_categorical"].any() for node in nodes):
            raise ValueError("trees with categorical splits cannot be exported")
        order = np.argsort([-int(node["depth"].max()) for node in nodes], kind="stable")  # deepest first
        nodes = [nodes[i] for i in order]
        start = np.cumsum([0] + [len(node) for node in nodes[:-1]])

        def child(side: str) -> np.ndarray:  # global node numbers; a leaf is its own child
            return np.concatenate([np.where(n["is_leaf"], np.arange(len(n)), n[side]) + first
                                   for n, first in zip(nodes, start, strict=True)])

        return cls({
            "feature": np.concatenate([n["feature_idx"] for n in nodes]).astype(np.int32),
            "threshold": np.concatenate([n["num_threshold"] for n in nodes]).astype(np.float64),
            "missing_left": np.concatenate([n["missing_go_to_left"] for n in nodes]).astype(bool),
            "children": np.stack([child("left"), child("right")], axis=1).ravel().astype(np.int32),  # left, right
            "value": np.concatenate([n["value"] for n in nodes]).astype(np.float64),
            "roots": start.astype(np.int32), "depth": np.array([n["depth"].max() for n in nodes], np.int32),
            "tree_class": (order % per_iteration).astype(np.int32),
            "baseline": np.asarray(trees._baseline_prediction, np.float64).ravel(),
            "classes": np.asarray(trees.classes_), "shares": np.asarray(shares, np.float64),
            "n_features": np.int64(trees.n_features_in_),
        })

    def save(self, path: Path) -> None:
        np.savez(path, **self.arrays)

    @classmethod
    def load(cls, path: Path) -> ExportedTrees:
        with np.load(path, allow_pickle=False) as saved:
            return cls({name: saved[name] for name in saved.files})

    def predict_proba(self, x: np.ndarray, chunk: int = 512) -> np.ndarray:
        """(N, classes) probabilities, as BalancedTrees.predict_proba gives them."""
        a = self.arrays
        per_class = np.eye(len(a["baseline"]))[a["tree_class"]]  # (trees, raw outputs)
        # trees are sorted deepest first: at each level, the first `deeper` trees still have a split to take
        deeper_per_level = [int((a["depth"] > level).sum()) for level in range(int(a["depth"].max(initial=0)))]
        out = []
        for begin in range(0, len(x), chunk):
            rows = np.asarray(x[begin : begin + chunk], np.float64)  # the trees compare in float64, as scikit-learn does
            values = rows.ravel()
            row_start = (np.arange(len(rows), dtype=np.int32) * rows.shape[1])[:, None]
            node = np.repeat(a["roots"][None, :], len(rows), axis=0)
            for deeper in deeper_per_level:
                at = node[:, :deeper]
                value = values[row_start + a["feature"][at]]
                go_left = value <= a["threshold"][at]
                missing = np.isnan(value)
                if missing.any():
                    go_left = np.where(missing, a["missing_left"][at], go_left)
                node[:, :deeper] = a["children"][2 * at + ~go_left]
            raw = a["baseline"] + a["value"][node] @ per_class
            if len(a["baseline"]) == 1:  # binary: the logit of the second class
                raw = np.concatenate([-raw, raw], axis=1) / 2
            probabilities = np.exp(raw - raw.max(axis=1, keepdims=True))
            out.append(as_if_equally_common(probabilities / probabilities.sum(axis=1, keepdims=True), a["shares"]))
        return np.concatenate(out) if out else np.zeros((0, len(self.classes_)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(x).argmax(axis=1)]


def train_descriptor_classifier(logmel: np.ndarray, duration: np.ndarray, y: np.ndarray, params: FeatureParams,
                                seed: int = 7, weight: np.ndarray | None = None) -> BalancedTrees:
    """Trees on the descriptors of real drums (class indices `y`, rows weighed by `weight`): the
    library's own and the base corpus's. The synthesized drums stay out: with them the trees lost
    0.07 macro-F1 on real kits."""
    return BalancedTrees(seed).fit(descriptors(logmel, duration, params), y, weight)


def class_probabilities(model, rows: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, n_classes) probabilities of sounds' descriptor rows; classes the library had no file of get 0."""
    out = np.zeros((len(rows), n_classes), np.float32)
    if len(rows):
        out[:, model.classes_] = model.predict_proba(rows)
    return out
