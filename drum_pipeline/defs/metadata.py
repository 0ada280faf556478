"""Metadata helpers shared by the assets: tables and pictures for the Dagster UI."""

import base64

import dagster as dg
import pandas as pd


def markdown_table(frame: pd.DataFrame, limit: int = 50) -> dg.MetadataValue:
    shown = frame.head(limit)
    more = f"\n\n… and {len(frame) - limit} more" if len(frame) > limit else ""
    return dg.MetadataValue.md((shown.to_markdown(index=False) if len(shown) else "(none)") + more)


def png_image(png: bytes, alt: str) -> dg.MetadataValue:
    """Dagster has no image metadata type: a Markdown image with a data URI shows in the UI."""
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")
