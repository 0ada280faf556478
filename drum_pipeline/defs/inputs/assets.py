"""The observed input folders: the labelled library and the archive to sort."""

from __future__ import annotations

import hashlib
import warnings

import dagster as dg

from drum_pipeline.audio.folders import fingerprint, scan_audio_files
from drum_pipeline.defs.resources import DrumPipelineConfig
from drum_pipeline.demo.data import ensure_demo_archive, ensure_demo_library
from drum_pipeline.labels.taxonomy import load_taxonomy


def _observe(context: dg.AssetExecutionContext, folder) -> dg.ObserveResult:
    files = scan_audio_files(folder)
    context.log.info(f"{len(files)} audio files in {folder}")
    return dg.ObserveResult(
        data_version=dg.DataVersion(fingerprint(files)),
        metadata={
            "path": dg.MetadataValue.path(str(folder)),
            "audio_files": len(files),
            "bytes": sum(max(f.size, 0) for f in files),
        },
    )


# observable_source_asset is beta; we rely on it knowingly, so its warning is silenced here only.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=dg.BetaWarning)

    @dg.observable_source_asset(group_name="inputs")
    def sample_library(context, config: DrumPipelineConfig) -> dg.ObserveResult:
        """The user's labelled library (DRUM_LIBRARY_DIR). Its data version is a fingerprint of the
        (relative path, size, mtime) of its audio files: no audio is read to observe it."""
        settings = config.settings()
        if message := ensure_demo_library(settings.library_dir, settings.library_is_default, settings.seed):
            context.log.info(message)
        return _observe(context, settings.library_dir)

    @dg.observable_source_asset(group_name="inputs")
    def sample_archive(context, config: DrumPipelineConfig) -> dg.ObserveResult:
        """The archive to sort (DRUM_ARCHIVE_DIR), fingerprinted like the library. Its packs (top-level
        folders) are the archive index's partitions, which the archive sensor registers."""
        settings = config.settings()
        if message := ensure_demo_archive(settings.archive_dir, settings.archive_is_default, settings.seed):
            context.log.info(message)
        return _observe(context, settings.archive_dir)

    @dg.observable_source_asset(group_name="inputs")
    def taxonomy(context, config: DrumPipelineConfig) -> dg.ObserveResult:
        """The taxonomy file (DRUM_TAXONOMY, default: the packaged taxonomy.yaml): token rules,
        fine labels and their canonical classes. Its data version is the file's sha256."""
        settings = config.settings()
        loaded = load_taxonomy(settings.taxonomy_path)
        return dg.ObserveResult(
            data_version=dg.DataVersion(loaded.digest[:24]),
            metadata={
                "path": dg.MetadataValue.path(str(settings.taxonomy_path)),
                "fine_labels": len(loaded.fine_to_class),
                "rules": len(loaded.rules),
            },
        )

    @dg.observable_source_asset(group_name="inputs")
    def corrections(context, config: DrumPipelineConfig) -> dg.ObserveResult:
        """The user's corrections (DRUM_OUTPUT_DIR/corrections.csv, `drum-pipeline correct`): labels
        given by hand to archive files. Its data version is the file's sha256 ("none" without one)."""
        path = config.settings().layout.corrections_path
        return dg.ObserveResult(data_version=dg.DataVersion(corrections_version(path)),
                                metadata={"path": dg.MetadataValue.path(str(path))})


def corrections_version(path) -> str:
    """The data version of the corrections file: its sha256, or "none" when there is none."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:24] if path.exists() else "none"
