"""Content hashing (sha256) with a persistent cache keyed by (path, size, mtime_ns)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class HashCache:
    """sha256 of files, remembered by (path, size, mtime_ns) so an unchanged file is read once.

    Backed by SQLite so that several processes (parallel partitions) can share it.
    Use as a context manager; `hits` and `misses` count lookups since opening.
    """

    def __init__(self, db_path: Path):
        db_path = Path(db_path)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(db_path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sha256 ("
            " path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL)"
        )
        self._db.commit()
        self.hits = 0
        self.misses = 0

    def sha256(self, path: Path) -> str:
        """The file's sha256, from the cache when its size and mtime are unchanged. Raises OSError."""
        digest = self.sha256_many([path], workers=1)[0]
        if isinstance(digest, OSError):
            raise digest
        return digest

    def sha256_many(self, paths: list[Path], workers: int = 2) -> list[str | OSError]:
        """sha256_file of each path (or the OSError that stopped it), from the cache where possible;
        the files that must be read are hashed on `workers` threads (hashlib releases the GIL)."""
        results: list[str | OSError] = []
        misses: list[tuple[int, str, os.stat_result]] = []
        for i, path in enumerate(paths):
            key = str(Path(path).absolute())
            try:
                st = os.stat(path)
            except OSError as exc:
                results.append(exc)
                continue
            row = self._db.execute("SELECT sha256 FROM sha256 WHERE path = ? AND size = ? AND mtime_ns = ?",
                                   (key, st.st_size, st.st_mtime_ns)).fetchone()
            results.append(row[0] if row else "")
            if row:
                self.hits += 1
            else:
                misses.append((i, key, st))

        def digest(path: Path) -> str | OSError:
            try:
                return sha256_file(path)
            except OSError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            digests = list(pool.map(digest, [paths[i] for i, _, _ in misses]))
        rows = []
        for (i, key, st), result in zip(misses, digests, strict=True):
            results[i] = result
            if isinstance(result, str):
                rows.append((key, st.st_size, st.st_mtime_ns, result))
        self.misses += len(rows)
        self._db.executemany("INSERT OR REPLACE INTO sha256 (path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?)", rows)
        self.flush()
        return results

    def flush(self) -> None:
        self._db.commit()

    def close(self) -> None:
        self.flush()
        self._db.close()

    def __enter__(self) -> HashCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def paths_by_hash(items) -> dict[str, Path]:
    """The first path of each content hash of (sha256, path) pairs (files without a hash are left out)."""
    paths: dict[str, Path] = {}
    for sha, path in items:
        if sha:
            paths.setdefault(sha, Path(path))
    return paths
