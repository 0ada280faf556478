"""Metadata helpers shared by the assets: tables and pictures for the Dagster UI."""

import hashlib
from pathlib import Path

import dagster as dg
import pandas as pd

from drum_pipeline.config.layout import OutputLayout, write_atomic
from drum_pipeline.config.settings import REVIEW_URL


def markdown_table(frame: pd.DataFrame, limit: int = 50) -> dg.MetadataValue:
    shown = frame.head(limit)
    more = f"\n\n… and {len(frame) - limit} more" if len(frame) > limit else ""
    return dg.MetadataValue.md((shown.to_markdown(index=False) if len(shown) else "(none)") + more)


def picture(layout: OutputLayout, name: str, png: bytes, alt: str) -> dg.MetadataValue:
    """A picture the UI shows in the metadata table without a click: the PNG is kept as
    reports/NAME.png and the Markdown points at the project's local page (`drum-pipeline ui`
    serves it on 127.0.0.1). Dagster shows Markdown under 1000 characters in place; an inline
    data URI is far longer and would hide behind "Show Markdown"."""
    path = layout.picture_path(name)
    write_atomic(path, lambda tmp: Path(tmp).write_bytes(png))
    version = hashlib.sha256(png).hexdigest()[:12]  # a new picture is not taken from the browser's cache
    return dg.MetadataValue.md(f"![{alt}]({REVIEW_URL}reports/{path.name}?v={version})")
