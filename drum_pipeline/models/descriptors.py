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

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier

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


class BalancedTrees(ClassifierMixin, BaseEstimator):
    """The trees both the drum detector and the descriptor classifier use: gradient-boosted trees
    whose probabilities are divided by the training shares of the classes (and normalised again), so
    they answer as if every class were equally common. Unlike class weights, this gives the trees no
    sample weights, which make scikit-learn's binning (>= 1.8) 25-35x slower on a few thousand rows:
    the demo's drum detector trained in 29 s with class weights, 2.6 s so."""

    def __init__(self, seed: int = 7):
        self.seed = seed

    def fit(self, x: np.ndarray, y: np.ndarray) -> BalancedTrees:
        self.trees_ = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=self.seed).fit(x, y)
        self.classes_ = self.trees_.classes_
        self.n_features_in_ = self.trees_.n_features_in_
        self.shares_ = np.array([np.mean(y == c) for c in self.classes_])
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        balanced = self.trees_.predict_proba(x) / self.shares_
        return balanced / balanced.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(x).argmax(axis=1)]


def train_descriptor_classifier(logmel: np.ndarray, duration: np.ndarray, y: np.ndarray, params: FeatureParams,
                                seed: int = 7) -> BalancedTrees:
    """Trees on the descriptors of the library's own drums (class indices `y`). The synthesized drums
    stay out: with them the trees lost 0.07 macro-F1 on real kits."""
    return BalancedTrees(seed).fit(descriptors(logmel, duration, params), y)


def class_probabilities(model, rows: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, n_classes) probabilities of sounds' descriptor rows; classes the library had no file of get 0."""
    out = np.zeros((len(rows), n_classes), np.float32)
    if len(rows):
        out[:, model.classes_] = model.predict_proba(rows)
    return out
