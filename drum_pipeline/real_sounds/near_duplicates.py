"""Near-identical sounds: the same recording again, shifted, scaled, resampled, cut or enveloped.

Two sounds are compared by the normalised cross-correlation of their first half second from the
onset, at 8 kHz, over lags of up to 20 ms: 1.0 for the same waveform, whatever its level and its
leading silence. The waveform alone is not enough: two takes of a low drum (decaying sines at one
pitch) line up at 0.9 and more. So the first difference of the waveform (its attack and noise
detail, which differ from take to take) must line up too: the score is the lower of the two.
The correlation is interpolated between samples (UPSAMPLE times finer): the same noise, offset by
half a sample, would line up at only 0.6.
"""

from __future__ import annotations

import numpy as np
import soxr

FINGERPRINT_RATE = 8000
FINGERPRINT_SECONDS = 0.5
MAX_LAG_SECONDS = 0.02
ONSET_DB = -30.0  # the onset: the first sample within 30 dB of the peak
# At or above: the same recording. Tones are held to more: two instruments at one pitch with
# alike spectra line up at 0.9-0.97 (a periodic waveform carries no take-to-take detail).
NEAR_IDENTICAL = {"drum": 0.9, "non_drum": 0.98}
UPSAMPLE = 8
REFINED = 8  # the candidates (best at whole-sample lags) whose correlation is interpolated

_LENGTH = round(FINGERPRINT_SECONDS * FINGERPRINT_RATE)
_FFT_SIZE = 1 << (2 * _LENGTH - 1).bit_length()
_MAX_LAG = round(MAX_LAG_SECONDS * FINGERPRINT_RATE)


def fingerprint(samples: np.ndarray, sample_rate: int) -> np.ndarray | None:
    """The sound from its onset, FINGERPRINT_SECONDS long at FINGERPRINT_RATE, and its first
    difference: two rows, each scaled to unit energy (float64); None for silence."""
    mono = np.asarray(samples, dtype=np.float64)
    if sample_rate != FINGERPRINT_RATE and len(mono):
        mono = soxr.resample(mono, sample_rate, FINGERPRINT_RATE, quality="HQ")
    peak = float(np.max(np.abs(mono))) if len(mono) else 0.0
    if peak == 0.0:
        return None
    onset = int(np.argmax(np.abs(mono) >= peak * 10 ** (ONSET_DB / 20)))
    window = np.zeros((2, _LENGTH))
    head = mono[onset : onset + _LENGTH + 1]
    window[0, : min(len(head), _LENGTH)] = head[:_LENGTH]
    window[1, : len(head) - 1] = np.diff(head)
    norms = np.linalg.norm(window, axis=1, keepdims=True)
    return window / np.where(norms > 0, norms, 1.0)


def _spectra(prints: np.ndarray) -> np.ndarray:
    return np.fft.rfft(prints, _FFT_SIZE, axis=-1)


def similarities(query: np.ndarray, spectra: np.ndarray, upsample: int = 1) -> np.ndarray:
    """For each fingerprint whose spectra are `spectra[i]`: the best |normalised cross-correlation|
    with `query` (lags up to MAX_LAG_SECONDS, in steps of 1/`upsample` sample) of the waveforms and
    of their differences, the lower one."""
    if not len(spectra):
        return np.zeros(0)
    size, max_lag = _FFT_SIZE * upsample, _MAX_LAG * upsample
    correlation = np.fft.irfft(spectra * np.conj(_spectra(query))[None], size, axis=-1) * upsample
    lags = np.concatenate([correlation[..., : max_lag + 1], correlation[..., -max_lag:]], axis=-1)
    return np.min(np.max(np.abs(lags), axis=-1), axis=-1)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """The near-identity score of two fingerprints (0 to 1)."""
    return float(similarities(a, _spectra(b)[None], UPSAMPLE)[0])


class NearDuplicateIndex:
    """Fingerprints seen so far, and which one a new sound nearly repeats."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._spectra: list[np.ndarray] = []
        self._stacked: np.ndarray | None = None

    def add(self, name: str, print_: np.ndarray) -> None:
        self.names.append(name)
        self._spectra.append(_spectra(print_))
        self._stacked = None

    def closest(self, print_: np.ndarray) -> tuple[str, float]:
        """The name and score of the most similar fingerprint seen ("", 0.0 when none)."""
        if not self.names:
            return "", 0.0
        if self._stacked is None:
            self._stacked = np.stack(self._spectra)
        candidates = np.argsort(similarities(print_, self._stacked))[-REFINED:]
        scores = similarities(print_, self._stacked[candidates], UPSAMPLE)
        best = int(np.argmax(scores))
        return self.names[candidates[best]], float(scores[best])
