"""Training augmentation in the log-mel domain (dB), where it is cheap and needs no audio:
time shift, a shift along the mel bands (a coarse pitch shift), EQ tilt, added noise and a short
reverb tail. Loudness needs none: every window is peak-normalised before its features."""

from __future__ import annotations

import numpy as np


def augment_logmel(batch: np.ndarray, rng: np.random.Generator, top_db: float = 80.0) -> np.ndarray:
    """Randomly altered copies of log-mel spectrograms (B, bands, frames), re-referenced to 0 dB."""
    out = np.array(batch, dtype=np.float32, copy=True)
    n, bands, frames = out.shape
    for i in range(n):
        x = out[i]
        shift = int(rng.integers(-2, 5))  # frames; mostly a late onset
        x = np.roll(x, shift, axis=1)
        if shift > 0:
            x[:, :shift] = -top_db
        elif shift < 0:
            x[:, shift:] = -top_db
        # Up to two mel bands: about 1.8 semitones above 1 kHz, but 100 Hz below it (near an octave
        # for a low tom). Strong for low drums; without it real packs scored worse (see the README).
        pitch = int(rng.integers(-2, 3))
        if pitch:
            x = np.roll(x, pitch, axis=0)
            edge = slice(0, pitch) if pitch > 0 else slice(bands + pitch, bands)
            x[edge] = x[pitch if pitch > 0 else bands + pitch - 1]
        x = x + np.linspace(-1, 1, bands, dtype=np.float32)[:, None] * rng.uniform(-6, 6)  # EQ tilt
        if rng.random() < 0.5:  # reverb: every frame decays into the next at most this fast
            per_frame = rng.uniform(0.5, 3.0)
            ramp = per_frame * np.arange(frames, dtype=np.float32)
            x = np.maximum(x, np.maximum.accumulate(x + ramp, axis=1) - ramp - rng.uniform(6, 20))
        if rng.random() < 0.5:  # noise floor
            noise = rng.uniform(-70, -45) + rng.normal(0, 2, size=x.shape)
            x = 10 * np.log10(10 ** (x / 10) + 10 ** (noise / 10))
        out[i] = x
    out -= out.max(axis=(1, 2), keepdims=True)
    return np.maximum(out, -top_db)
