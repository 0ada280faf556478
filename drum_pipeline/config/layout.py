"""The one place that knows where outputs live under DRUM_OUTPUT_DIR, and how they are written."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class OutputLayout:
    root: Path
    cache_root: Path | None = None  # the caches elsewhere (DRUM_CACHE_DIR): a disk of each worker's own

    def table_path(self, name: str) -> Path:
        """`tables/<name>.parquet`, readable by pandas, DuckDB or Arrow without Dagster."""
        return self.root / "tables" / f"{name}.parquet"

    def partition_path(self, name: str, key: str, suffix: str = ".parquet") -> Path:
        """`tables/<name>/<key>.parquet` for a partitioned table (JSON lines: `jsonl/<name>/<key>.jsonl`)."""
        folder = "tables" if suffix == ".parquet" else suffix.lstrip(".")
        return self.root / folder / name / f"{key}{suffix}"

    def write_partition(self, name: str, key: str, frame: pd.DataFrame) -> None:
        """One partition as Parquet, and as JSON lines for tools that stream."""
        write_parquet_atomic(frame, self.partition_path(name, key))
        write_atomic(self.partition_path(name, key, ".jsonl"),
                     lambda tmp: frame.to_json(tmp, orient="records", lines=True, force_ascii=False))

    def drop_partitions_except(self, name: str, keys: set[str]) -> list[str]:
        """Delete the tables (Parquet and JSON lines) of partitions not in `keys`; returns their keys."""
        gone = sorted(p.stem for p in (self.root / "tables" / name).glob("*.parquet") if p.stem not in keys)
        for key in gone:
            self.partition_path(name, key).unlink(missing_ok=True)
            self.partition_path(name, key, ".jsonl").unlink(missing_ok=True)
        return gone

    def read_partitions(self, name: str, columns: list[str] | None = None, keys: set[str] | None = None
                        ) -> pd.DataFrame:
        """The partitions of a partitioned table (all, or those of `keys` that were written),
        concatenated; with none written, an empty table with `columns` (a valid, empty result)."""
        files = sorted(f for f in (self.root / "tables" / name).glob("*.parquet") if keys is None or f.stem in keys)
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else pd.DataFrame(
            columns=columns)

    def value_path(self, name: str) -> Path:
        """`tables/<name>.json`: an asset whose value is a few numbers (the sorting thresholds)."""
        return self.root / "tables" / f"{name}.json"

    def read_value(self, name: str) -> dict | None:
        """The value at value_path(name), or None when it was never written."""
        path = self.value_path(name)
        return json.loads(path.read_text()) if path.exists() else None

    @property
    def bundle_tables(self) -> tuple[Path, Path]:
        """What the inference bundle is built from besides the models: the known sounds (the
        spectrogram_features table) and the sorting thresholds."""
        return self.table_path("spectrogram_features"), self.value_path("sorting_thresholds")

    @property
    def corrections_path(self) -> Path:
        """The user's corrections (CSV: sha256, label, ...), written by `drum-pipeline correct` or by hand."""
        return self.root / "corrections.csv"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def bundle_dir(self) -> Path:
        """The inference bundle: the deployed models exported for classifying without TensorFlow."""
        return self.models_dir / "bundle"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def embedding_cost_path(self) -> Path:
        """The accurate mode's cost in the last archive run: files embedded and seconds (JSON)."""
        return self.reports_dir / "embedding_cost.json"

    def picture_path(self, name: str) -> Path:
        """A picture of the UI's metadata, served by the local page (`drum-pipeline ui`)."""
        return self.reports_dir / f"{name}.png"

    @property
    def rebuilt_dir(self) -> Path:
        return self.root / "rebuilt"

    @property
    def cache_dir(self) -> Path:
        """The hash and feature caches (SQLite). Rebuildable at any time: tables hold the features."""
        return self.cache_root or self.root / "cache"

    @property
    def hash_cache_path(self) -> Path:
        return self.cache_dir / "sha256.sqlite"

    def write_table(self, name: str, frame: pd.DataFrame) -> Path:
        path = self.table_path(name)
        write_parquet_atomic(frame, path)
        return path

    def read_table(self, name: str) -> pd.DataFrame:
        path = self.table_path(name)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist yet: materialize the {name} asset first")
        return pd.read_parquet(path)


def write_atomic(path: Path, write) -> None:
    """Call `write(temporary path)` beside `path`, then rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write a Parquet table atomically (see write_atomic)."""
    write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
