"""The feature cache, keyed by content hash and shared by training and archive classification.

One SQLite file per feature-parameter digest (`cache/features/<digest>.sqlite`): a changed
parameter starts an empty cache, so everything re-extracts once and nothing else does. A file
that cannot be decoded is cached as an error, so it is not decoded again either.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from drum_pipeline.audio.embeddings import EMBEDDING_NAME
from drum_pipeline.audio.features import FeatureParams, analysed_window, compute_features
from drum_pipeline.audio.hashing import paths_by_hash
from drum_pipeline.audio.loader import AudioLoadError, load_window
from drum_pipeline.progress import StageTimes

STAT_COLUMNS = ("duration", "sample_rate", "channels", "format", "peak", "rms",
                "centroid_hz", "flatness", "onset_strength", "decay_seconds")


@dataclass
class FeatureRecord:
    sha256: str
    error: str  # "" when the file decoded
    mfcc: np.ndarray | None  # (n_mfcc, n_frames) float32
    logmel: np.ndarray | None  # (n_mels, n_frames) float32
    stats: dict


@dataclass
class ExtractionReport:
    requested: int = 0  # distinct content hashes asked for
    cached: int = 0
    extracted: int = 0  # decoded and computed in this call
    failed: int = 0  # of the extracted, how many could not be decoded
    seconds: float = 0.0


class FeatureCache:
    """Features by sha256 for one set of FeatureParams. Use as a context manager."""

    def __init__(self, cache_dir: Path, params: FeatureParams):
        self.params = params
        path = Path(cache_dir) / "features" / f"{params.digest()}.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS features (sha256 TEXT PRIMARY KEY, error TEXT NOT NULL,"
                         " mfcc BLOB, logmel BLOB, stats TEXT NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS embeddings (sha256 TEXT NOT NULL, model TEXT NOT NULL,"
                         " vector BLOB NOT NULL, PRIMARY KEY (sha256, model))")  # the accurate mode's (audio/embeddings.py)
        self._db.execute("CREATE TABLE IF NOT EXISTS params (json TEXT)")
        if not self._db.execute("SELECT 1 FROM params").fetchone():
            self._db.execute("INSERT INTO params VALUES (?)", (json.dumps(params.__dict__),))
        self._db.commit()

    def known(self, hashes: Iterable[str]) -> set[str]:
        """Which of `hashes` are cached (features or an error)."""
        return {row[0] for row in self._select("sha256", hashes)}

    def _select(self, columns: str, hashes: Iterable[str], table: str = "features", model: str | None = None
                ) -> Iterator[tuple]:
        """Rows of `columns` of `table` for the distinct `hashes` (and embeddings of `model`), queried in
        chunks under SQLite's variable limit."""
        wanted = list(dict.fromkeys(hashes))
        by_model, model_args = ("model = ? AND ", [model]) if model else ("", [])
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            yield from self._db.execute(
                f"SELECT {columns} FROM {table} WHERE {by_model}sha256 IN ({','.join('?' * len(chunk))})",
                [*model_args, *chunk])

    def put(self, records: list[FeatureRecord]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?)",
            [(r.sha256, r.error, _blob(r.mfcc), _blob(r.logmel), json.dumps(r.stats)) for r in records],
        )
        self._db.commit()

    def get(self, hashes: Iterable[str]) -> Iterator[FeatureRecord]:
        """The cached records of `hashes` (those not cached are skipped), in no particular order."""
        p = self.params
        for sha, error, mfcc, logmel, stats in self._select("sha256, error, mfcc, logmel, stats", hashes):
            yield FeatureRecord(sha, error, _array(mfcc, (p.n_mfcc, p.n_frames)),
                                _array(logmel, (p.n_mels, p.n_frames)), json.loads(stats))

    def embedded(self, hashes: Iterable[str], model: str = EMBEDDING_NAME) -> set[str]:
        """Which of `hashes` have a cached embedding of `model` (the vectors are not read)."""
        return {row[0] for row in self._select("sha256", hashes, "embeddings", model)}

    def embeddings(self, hashes: Iterable[str], model: str = EMBEDDING_NAME) -> dict[str, np.ndarray]:
        """The cached embeddings (float32) of `hashes` by `model`; those not cached are left out."""
        return {sha: _array(vector, (-1,)) for sha, vector in self._select("sha256, vector", hashes, "embeddings", model)}

    def put_embeddings(self, vectors: dict[str, np.ndarray], model: str = EMBEDDING_NAME) -> None:
        self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
                             [(sha, model, _blob(vector)) for sha, vector in vectors.items()])
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _blob(array: np.ndarray | None) -> bytes | None:
    return None if array is None else np.asarray(array, dtype=np.float16).tobytes()


def _array(blob: bytes | None, shape: tuple[int, ...]) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float16).reshape(shape).astype(np.float32)


def _decode(path: Path, params: FeatureParams, times: StageTimes) -> tuple[np.ndarray | None, dict, str]:
    with times("decoding"):
        try:
            audio = load_window(path, params.sample_rate, params.decode_seconds)
        except AudioLoadError as exc:
            return None, {}, str(exc)
        samples = audio.samples
        stats = {"duration": round(audio.source_duration, 4), "sample_rate": audio.source_sample_rate,
                 "channels": audio.channels, "format": f"{audio.format}/{audio.subtype}",
                 "peak": float(np.max(np.abs(samples))), "rms": float(np.sqrt(np.mean(samples**2)))}
        return analysed_window(samples, params), stats, ""


def _extract_batch(batch: list[tuple[str, Path]], params: FeatureParams, times: StageTimes) -> list[FeatureRecord]:
    """Decode a batch and compute its features (on a worker thread): one record per file."""
    decoded = [_decode(path, params, times) for _, path in batch]
    ok = [i for i, (window, _, _) in enumerate(decoded) if window is not None]
    with times("features"):
        computed = compute_features(np.stack([decoded[i][0] for i in ok]), params) if ok else {}
    row_of = {i: row for row, i in enumerate(ok)}
    records = []
    for i, (sha, _path) in enumerate(batch):
        window, stats, error = decoded[i]
        if window is None:
            records.append(FeatureRecord(sha, error, None, None, {}))
            continue
        row = row_of[i]
        for key in ("centroid_hz", "flatness", "onset_strength", "decay_seconds"):
            stats[key] = float(computed[key][row])
        records.append(FeatureRecord(sha, "", computed["mfcc"][row], computed["logmel"][row], stats))
    return records


def extract_missing(
    items: Iterable[tuple[str, Path]],
    cache: FeatureCache,
    workers: int | None = None,
    batch_size: int = 128,
    progress: Callable[[int, int], None] | None = None,
    times: StageTimes | None = None,
) -> ExtractionReport:
    """Decode and compute features for every (sha256, path) whose hash is not cached yet.

    Each batch is decoded and its features computed on one of `workers` threads (default: one
    per core; libsndfile, soxr and numpy release the GIL), while this thread stores finished
    batches. Numeric libraries run single-threaded meanwhile: their own thread pools would fight
    the workers for the cores. Files sharing a hash are decoded once. `times` adds up the seconds
    of decoding and of the features (each thread's).
    """
    from threadpoolctl import threadpool_limits

    start = time.monotonic()
    times = times or StageTimes()
    workers = workers or os.cpu_count() or 1
    paths = paths_by_hash(items)
    known = cache.known(paths)
    todo = [(sha, path) for sha, path in paths.items() if sha not in known]
    report = ExtractionReport(requested=len(paths), cached=len(known))
    batch_size = max(1, min(batch_size, -(-len(todo) // workers)))  # a small pack still keeps every worker busy
    batches = [todo[first : first + batch_size] for first in range(0, len(todo), batch_size)]
    with ThreadPoolExecutor(max_workers=workers) as pool, threadpool_limits(1):
        pending: deque = deque()

        def store(future) -> None:
            with times("waiting for decoding"):
                records = future.result()
            with times("features"):
                cache.put(records)
            report.extracted += len(records)
            report.failed += sum(1 for record in records if record.error)
            if progress:
                progress(report.extracted, len(todo))

        for batch in batches:  # at most workers + 1 batches in memory
            pending.append(pool.submit(_extract_batch, batch, cache.params, times))
            if len(pending) > workers:
                store(pending.popleft())
        while pending:
            store(pending.popleft())
    report.seconds = time.monotonic() - start
    return report


def feature_table(files: pd.DataFrame, cache: FeatureCache, kind: str) -> pd.DataFrame:
    """`files` (with a sha256 column) joined to their cached features: `kind` is "mfcc", "logmel"
    or "stats". Feature columns hold the flattened float32 matrix, beside the file's `duration`;
    rows whose file could not be decoded keep an empty matrix and the `error`."""
    records = {r.sha256: r for r in cache.get(files["sha256"])}
    out = files.copy()
    out["error"] = [records[sha].error if sha in records else "not extracted" for sha in files["sha256"]]
    if kind == "stats":
        stats = pd.DataFrame([records[sha].stats if sha in records else {} for sha in files["sha256"]],
                             columns=list(STAT_COLUMNS), index=files.index)
        return pd.concat([out, stats], axis=1)
    empty = np.zeros(0, dtype=np.float32)
    out[kind] = [getattr(records[sha], kind).ravel() if sha in records and not records[sha].error else empty
                 for sha in files["sha256"]]
    out["duration"] = [records[sha].stats.get("duration", np.nan) if sha in records else np.nan
                       for sha in files["sha256"]]
    return out


def feature_matrix(table: pd.DataFrame, kind: str, params: FeatureParams) -> np.ndarray:
    """The stacked (N, bands, frames) float32 matrices of a feature table's `kind` column."""
    bands = params.n_mfcc if kind == "mfcc" else params.n_mels
    if len(table) == 0:
        return np.zeros((0, bands, params.n_frames), dtype=np.float32)
    return np.stack(table[kind].to_numpy()).astype(np.float32).reshape(-1, bands, params.n_frames)
