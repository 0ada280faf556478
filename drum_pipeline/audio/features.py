"""Features of the analysed window: MFCC frames (Model 1) and a fixed-size log-mel spectrogram
(Model 2), computed for a whole batch of equal-length windows in one vectorised call.

Shapes (defaults): the window is the first 1.0 s after the onset, at 22,050 Hz, peak-normalised;
STFT of 1024 samples every 256 (centred, zero-padded): 87 frames. The log-mel spectrogram is
(64 mel bands, 87 frames) in dB relative to the file's loudest bin, floored at -80 dB; the MFCCs
are (20, 87), the DCT-II of that log-mel spectrogram, as librosa.feature.mfcc computes them.
Training and classification both call `compute_features`, so they see exactly the same numbers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import lru_cache

import librosa
import numpy as np
import scipy.fft

# Bump when the code below changes its output: it is part of every feature cache key.
FEATURE_CODE_VERSION = 1


@dataclass(frozen=True)
class FeatureParams:
    sample_rate: int = 22050
    window_seconds: float = 1.0
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 64
    n_mfcc: int = 20
    fmin: float = 20.0
    top_db: float = 80.0
    onset_threshold: float = 0.02  # the window starts where the signal first reaches this share of its peak
    onset_search_seconds: float = 0.25  # how much leading silence to look through (decoded on top of the window)

    @property
    def window_samples(self) -> int:
        return round(self.window_seconds * self.sample_rate)

    @property
    def n_frames(self) -> int:
        return 1 + self.window_samples // self.hop_length

    @property
    def decode_seconds(self) -> float:
        return self.window_seconds + self.onset_search_seconds

    def digest(self) -> str:
        """Names the feature cache: any parameter (or the feature code version) changed, all re-extract."""
        text = json.dumps({**asdict(self), "code": FEATURE_CODE_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@lru_cache(maxsize=4)
def _mel_basis(params: FeatureParams) -> np.ndarray:
    return librosa.filters.mel(sr=params.sample_rate, n_fft=params.n_fft, n_mels=params.n_mels,
                               fmin=params.fmin, dtype=np.float32)


@lru_cache(maxsize=4)
def _window(n_fft: int) -> np.ndarray:
    return np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann, as librosa's STFT uses


def analysed_window(samples: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Trim leading silence, keep `window_seconds`, zero-pad to length, normalise the peak to 1."""
    samples = np.asarray(samples, dtype=np.float32)
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if peak > 0:
        loud = np.flatnonzero(np.abs(samples) >= params.onset_threshold * peak)
        start = min(int(loud[0]), round(params.onset_search_seconds * params.sample_rate))
        samples = samples[start:] / peak
    out = np.zeros(params.window_samples, dtype=np.float32)
    n = min(len(samples), params.window_samples)
    out[:n] = samples[:n]
    return out


def compute_features(windows: np.ndarray, params: FeatureParams) -> dict[str, np.ndarray]:
    """Features of a batch of analysed windows (B, window_samples); each row independent of the others.

    Returns `logmel` (B, n_mels, n_frames), `mfcc` (B, n_mfcc, n_frames) and per-window summary
    statistics `centroid_hz`, `flatness`, `onset_strength`, `decay_seconds` (B,).
    """
    windows = np.asarray(windows, dtype=np.float32).reshape(-1, params.window_samples)
    if len(windows) <= _ROWS_AT_ONCE:
        return _features(windows, params)
    # A few rows at a time: the frames and spectra of a whole batch (about 1 MB a row) stay out of memory
    parts = [_features(windows[i : i + _ROWS_AT_ONCE], params) for i in range(0, len(windows), _ROWS_AT_ONCE)]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


_ROWS_AT_ONCE = 32


def _features(windows: np.ndarray, params: FeatureParams) -> dict[str, np.ndarray]:
    half = params.n_fft // 2
    padded = np.pad(windows, ((0, 0), (half, half)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, params.n_fft, axis=1)[:, :: params.hop_length]
    frames = frames[:, : params.n_frames] * _window(params.n_fft)
    spectrum = scipy.fft.rfft(frames, axis=-1)  # one thread: callers run batches on their own threads
    power = spectrum.real**2 + spectrum.imag**2  # (B, T, F)
    mel = power @ _mel_basis(params).T  # (B, T, M)
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db -= db.max(axis=(1, 2), keepdims=True)
    db = np.maximum(db, -params.top_db).astype(np.float32)
    mfcc = mfcc_from_logmel(db, params.n_mfcc, band_axis=-1)

    freqs = np.fft.rfftfreq(params.n_fft, 1.0 / params.sample_rate).astype(np.float32)
    spectrum = power.sum(axis=1) + 1e-12  # (B, F): the window's power spectrum
    frame_energy = power.sum(axis=2)  # (B, T)
    above = frame_energy >= frame_energy.max(axis=1, keepdims=True) * 1e-3  # within 30 dB of the peak frame
    last = params.n_frames - 1 - np.argmax(above[:, ::-1], axis=1)
    flux = np.maximum(np.diff(db, axis=1), 0).mean(axis=2)  # (B, T-1)
    return {
        "logmel": np.ascontiguousarray(db.transpose(0, 2, 1)),
        "mfcc": np.ascontiguousarray(mfcc.transpose(0, 2, 1)),
        "centroid_hz": (spectrum * freqs).sum(axis=1) / spectrum.sum(axis=1),
        "flatness": np.exp(np.mean(np.log(spectrum), axis=1)) / np.mean(spectrum, axis=1),
        "onset_strength": flux.max(axis=1) if flux.shape[1] else np.zeros(len(windows), np.float32),
        "decay_seconds": last * params.hop_length / params.sample_rate,
    }


def mfcc_from_logmel(logmel: np.ndarray, n_mfcc: int, band_axis: int = -2) -> np.ndarray:
    """MFCCs of log-mel spectrograms (dB): the orthonormal DCT-II over the mel bands."""
    mfcc = scipy.fft.dct(logmel, type=2, norm="ortho", axis=band_axis)
    return np.take(mfcc, np.arange(n_mfcc), axis=band_axis).astype(np.float32)


def file_logmel(path, params: FeatureParams) -> np.ndarray:
    """The log-mel spectrogram (n_mels, n_frames) the models see of one audio file; AudioLoadError."""
    from drum_pipeline.audio.loader import load_window

    audio = load_window(path, params.sample_rate, params.decode_seconds)
    return compute_features(analysed_window(audio.samples, params)[None], params)["logmel"][0]


RING_CHECK_SECONDS = 4.0  # how much of a file longer than a one-shot is read to tell a ringing hit from a loop


def one_decaying_hit(samples: np.ndarray, sample_rate: int, rise_db: float = 6.0, end_drop_db: float = 3.0) -> bool:
    """Whether a sound (the first RING_CHECK_SECONDS of a long file) is one decaying hit: after its
    loudest frame the level never rises `rise_db` over its lowest point since (no second attack),
    and it ends at least `end_drop_db` under its peak (not a sustained level). A crash ringing for
    8 s is one; a loop, a pad or a phrase is not. On the real-sound corpus: the cymbals of 6 s
    and more are, and 27 of the 31 non-drums longer than 6 s are not."""
    frame, hop = 1024, 512
    samples = np.asarray(samples, np.float32)
    if len(samples) < frame + hop:
        return True
    frames = np.lib.stride_tricks.sliding_window_view(samples, frame)[::hop]
    levels = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    after = levels[levels.argmax():]
    no_second_attack = (after - np.minimum.accumulate(after)).max() < rise_db
    tail = max(1, round(0.25 * sample_rate / hop))
    return bool(no_second_attack and levels.max() - levels[-tail:].mean() >= end_drop_db)


def rings_as_one_hit(path) -> bool:
    """Whether a file longer than a one-shot is one decaying hit (a long crash or gong), from its
    first RING_CHECK_SECONDS; False when it cannot be read."""
    from drum_pipeline.audio.loader import DEFAULT_SAMPLE_RATE, AudioLoadError, load_window

    try:
        return one_decaying_hit(load_window(path, DEFAULT_SAMPLE_RATE, RING_CHECK_SECONDS).samples, DEFAULT_SAMPLE_RATE)
    except AudioLoadError:
        return False
