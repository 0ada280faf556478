"""MFCC and log-mel feature tables of the curated set, and its audio statistics."""

import json

import dagster as dg
import pandas as pd

from drum_pipeline.audio.feature_cache import (
    FeatureCache,
    extract_missing,
    feature_matrix,
    feature_table,
)
from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.config.settings import Settings
from drum_pipeline.defs.metadata import markdown_table, picture
from drum_pipeline.defs.resources import DrumPipelineConfig
from drum_pipeline.defs.shared import AUTOMATION
from drum_pipeline.plots import spectrogram_grid
from drum_pipeline.progress import ProgressLog


def _curated_features(context: dg.AssetExecutionContext, settings: Settings, curated: pd.DataFrame, kind: str):
    """The curated set joined to its features, extracting only the files not cached yet."""
    params = FeatureParams()
    with FeatureCache(settings.layout.cache_dir, params) as cache:
        report = extract_missing(
            ((row.sha256, settings.library_dir / row.path) for row in curated.itertuples()),
            cache, progress=ProgressLog(context.log.info, "extracting features"),
        )
        context.log.info(f"features: {report.extracted} files extracted ({report.failed} failed), "
                         f"{report.cached} cached, in {report.seconds:.1f} s")
        return feature_table(curated, cache, kind), params, report


def _extraction_metadata(params: FeatureParams, report, shape: tuple[int, int]) -> dict:
    return {
        "extracted": report.extracted,
        "cached": report.cached,
        "failed": report.failed,
        "files_per_second": dg.MetadataValue.float(round(report.extracted / max(report.seconds, 1e-9), 1)),
        "sample_rate": params.sample_rate,
        "window_seconds": params.window_seconds,
        "shape": f"{shape[0]} x {shape[1]} (bands x frames)",
        "parameters": dg.MetadataValue.json(json.loads(json.dumps(params.__dict__))),
    }


@dg.asset(group_name="features", code_version="2", automation_condition=AUTOMATION)
def mfcc_features(context: dg.AssetExecutionContext, config: DrumPipelineConfig, curated_training_set: pd.DataFrame):
    """MFCC matrices (n_mfcc x frames, flattened) of the curated set, keyed by content hash, with
    label and split. Extraction is cached by content hash: only new content is decoded."""
    settings = config.settings()
    table, params, report = _curated_features(context, settings, curated_training_set, "mfcc")
    return dg.MaterializeResult(value=table, metadata={
        "path": dg.MetadataValue.path(str(settings.layout.table_path("mfcc_features"))), "dagster/row_count": len(table),
        **_extraction_metadata(params, report, (params.n_mfcc, params.n_frames)),
    })


@dg.asset(group_name="features", code_version="2", automation_condition=AUTOMATION)
def spectrogram_features(context: dg.AssetExecutionContext, config: DrumPipelineConfig, curated_training_set: pd.DataFrame):
    """Fixed-size log-mel spectrograms (n_mels x frames, dB, flattened) of the curated set, keyed
    by content hash, with label and split; a grid of examples per class in the UI."""
    settings = config.settings()
    table, params, report = _curated_features(context, settings, curated_training_set, "logmel")
    accurate = {}
    if settings.accurate:
        table, accurate = embedded(context, settings, table, settings.library_dir)
    ok = table[table["error"] == ""]
    examples = {label: list(feature_matrix(group.head(6), "logmel", params)) for label, group in ok.groupby("label")}
    png = spectrogram_grid(examples, "log-mel spectrograms of the curated set, per class")
    return dg.MaterializeResult(value=table, metadata={
        "path": dg.MetadataValue.path(str(settings.layout.table_path("spectrogram_features"))),
        "dagster/row_count": len(table),
        "spectrograms_per_class": picture(settings.layout, "spectrograms_per_class", png,
                                          "log-mel spectrograms per class"),
        **_extraction_metadata(params, report, (params.n_mels, params.n_frames)), **accurate,
    })


def embedded(context: dg.AssetExecutionContext, settings: Settings, table: pd.DataFrame, root) -> tuple:
    """The accurate mode: `table` with its files' pretrained embeddings (audio/embeddings.py), and metadata."""
    from drum_pipeline.audio.embeddings import EMBEDDING_NAME, embedded_table

    with FeatureCache(settings.layout.cache_dir, FeatureParams()) as cache:
        table, report = embedded_table(table, root, cache, ProgressLog(context.log.info, "embedding (--accurate)"))
    context.log.info(f"embeddings ({EMBEDDING_NAME}): {report['embedded']} files embedded, {report['cached']} cached, "
                     f"in {report['seconds']:.1f} s")
    return table, {"embedding": EMBEDDING_NAME, "embedded": report["embedded"],
                   "embedding_seconds": dg.MetadataValue.float(round(report["seconds"], 1))}


@dg.asset(group_name="features", code_version="1", automation_condition=AUTOMATION)
def audio_statistics(context: dg.AssetExecutionContext, config: DrumPipelineConfig, curated_training_set: pd.DataFrame):
    """Per curated file: duration, sample rate, channels, format, peak, RMS, spectral centroid and
    flatness, onset strength and decay time (from the feature cache: no audio is decoded again)."""
    settings = config.settings()
    table, _, _ = _curated_features(context, settings, curated_training_set, "stats")
    numeric = ["duration", "peak", "rms", "centroid_hz", "flatness", "onset_strength", "decay_seconds"]
    per_class = table.groupby("label")[numeric].median().round(3).reset_index()
    return dg.MaterializeResult(value=table, metadata={
        "path": dg.MetadataValue.path(str(settings.layout.table_path("audio_statistics"))), "dagster/row_count": len(table),
        "median_per_class": markdown_table(per_class),
        "formats": markdown_table(table["format"].value_counts().rename_axis("format").reset_index()),
    })
