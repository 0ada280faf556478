"""The pretrained sound embedding of the opt-in accurate mode (`--accurate`, DRUM_ACCURATE=1).

aisfx (PyPI, a sound-effects CNN trained across several datasets; its weights, CC BY 4.0, ship
inside its wheel) turns the first 2.3 s of a sound into 512 numbers. A logistic regression on
them joins the ensemble (models/embedding_member.py). In the real-sound benchmark it raised the
pooled final macro-F1 by 1.3 points (within its bootstrap interval), for about 45 ms a file on the
CPU and torch (754 MB installed): opt-in, not the default path. Install it with

    pip install torch==2.13.0 && pip install --no-deps aisfx==0.1.2

(aisfx pins old librosa and numpy versions it does not need, hence `--no-deps`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from drum_pipeline.audio.hashing import paths_by_hash
from drum_pipeline.audio.loader import AudioLoadError, load_window

EMBEDDING_NAME = "aisfx-0.1.2"  # the embedding's model and version: cached embeddings are keyed by it
EMBEDDING_SIZE = 512
SAMPLE_RATE = 44100  # aisfx's input: 96 log-mel bands of 2048-sample frames, hop 1024, one block of 100 frames
BLOCK_FRAMES, HOP, MELS = 100, 1024, 96
BLOCK_SAMPLES = (BLOCK_FRAMES - 1) * HOP  # librosa centres its frames: 100 frames of these samples
_SPECTROGRAM_MAX = 9.457798957824707  # aisfx's own min-max normalisation ("original": 0 to this)
INSTALL_HINT = "pip install torch==2.13.0 && pip install --no-deps aisfx==0.1.2"


class EmbeddingUnavailable(RuntimeError):
    """The accurate mode's embedding cannot run here (aisfx or torch missing); the message says how to install it."""


class SoundEmbedder:
    """aisfx's embedding network on the CPU, loaded once."""

    def __init__(self):
        try:
            import torch
            from aisfx import inference
        except ImportError as exc:
            raise EmbeddingUnavailable(f"the accurate mode needs aisfx and torch ({exc}): {INSTALL_HINT}") from None
        from numpy._core.multiarray import scalar

        # the checkpoint holds two numpy objects, by their numpy-1 names: allow-listed for torch's safe loader
        torch.serialization.add_safe_globals([(scalar, "numpy.core.multiarray.scalar"), np.dtype,
                                              *(type(np.dtype(kind)) for kind in ("int64", "float64"))])
        weights, datasets = torch.load(inference.get_path_modelWeights(), map_location="cpu", weights_only=True)
        self._torch = torch
        self._model = inference.load_bestModel(weights, datasets, "cpu")

    def spectrogram(self, samples: np.ndarray) -> np.ndarray:
        """(BLOCK_FRAMES, MELS) input block of mono samples at SAMPLE_RATE, as aisfx computes it
        (peak-normalised, log10 of the mel power, min-max scaled); silence after a short sound."""
        import librosa

        samples = np.asarray(samples[:BLOCK_SAMPLES], np.float32)
        samples = np.pad(samples / (float(np.max(np.abs(samples), initial=0.0)) or 1.0),
                         (0, BLOCK_SAMPLES - len(samples)))
        mel = librosa.feature.melspectrogram(y=samples, sr=SAMPLE_RATE, n_mels=MELS, norm=1.0, fmin=0.0,
                                             fmax=SAMPLE_RATE / 2, htk=True, power=2.0, hop_length=HOP,
                                             win_length=2048, n_fft=2048)
        return (np.log10(mel * 10000.0 + 1) / _SPECTROGRAM_MAX).T[:BLOCK_FRAMES].astype(np.float32)

    def embed(self, spectrograms: np.ndarray) -> np.ndarray:
        """(N, 512) embeddings of (N, BLOCK_FRAMES, MELS) blocks."""
        if len(spectrograms) == 0:
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        with self._torch.no_grad():
            return self._model.get_embedding(self._torch.from_numpy(np.asarray(spectrograms, np.float32))).numpy()


def embed_missing(items: Iterable[tuple[str, Path]], cache, embedder: SoundEmbedder | None = None,
                  batch_size: int = 32, progress: Callable[[int, int], None] | None = None) -> dict:
    """Embed every (sha256, path) whose hash has no cached embedding yet, into the feature cache
    (`cache`). Files that do not decode are left out (their feature record holds the error).
    Returns {"embedded", "cached", "failed", "seconds"}."""
    start = time.monotonic()
    paths = paths_by_hash(items)
    known = cache.embedded(paths)
    todo = [(sha, path) for sha, path in paths.items() if sha not in known]
    report = {"embedded": 0, "cached": len(known), "failed": 0, "seconds": 0.0}
    if todo:
        embedder = embedder or SoundEmbedder()
    for first in range(0, len(todo), batch_size):
        blocks, hashes = [], []
        for sha, path in todo[first : first + batch_size]:
            try:
                samples = load_window(path, SAMPLE_RATE, BLOCK_SAMPLES / SAMPLE_RATE).samples
            except AudioLoadError:
                report["failed"] += 1
                continue
            blocks.append(embedder.spectrogram(samples))
            hashes.append(sha)
        if blocks:
            cache.put_embeddings(dict(zip(hashes, embedder.embed(np.stack(blocks)), strict=True)))
        report["embedded"] += len(hashes)
        if progress:
            progress(min(first + batch_size, len(todo)), len(todo))
    report["seconds"] = time.monotonic() - start
    return report


def embedded_table(table, root: Path, cache, progress: Callable[[int, int], None] | None = None):
    """A features table (path relative to `root`, sha256, error) with each decoded file's
    embedding (`embedding`, float32; embedded now unless cached), and the embedding report.
    A decoded file that cannot be embedded gets that as its `error`."""
    decoded = table[table["error"] == ""]
    report = embed_missing(((row.sha256, Path(root) / row.path) for row in decoded.itertuples()), cache,
                           progress=progress)
    vectors = cache.embeddings(decoded["sha256"])
    out = table.copy()
    lost = (out["error"] == "") & ~out["sha256"].isin(vectors)
    out.loc[lost, "error"] = "could not be embedded (the accurate mode)"
    empty = np.zeros(0, np.float32)
    out["embedding"] = [vectors.get(sha, empty) for sha in out["sha256"]]
    return out, report
