"""The one place that knows where outputs live under DRUM_OUTPUT_DIR, and how they are written."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class OutputLayout:
    root: Path

    def table_path(self, name: str) -> Path:
        """`tables/<name>.parquet`, readable by pandas, DuckDB or Arrow without Dagster."""
        return self.root / "tables" / f"{name}.parquet"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def rebuilt_dir(self) -> Path:
        return self.root / "rebuilt"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

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


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write to a temporary file beside `path`, then rename, so readers never see half a table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
