"""The pipeline's one configurable resource: paths and thresholds."""

from __future__ import annotations

import dagster as dg

from drum_pipeline.config.settings import Settings


class DrumPipelineConfig(dg.ConfigurableResource):
    """Where to read and write. Empty values fall back to the DRUM_* environment variables,
    then to the defaults under data/ (see drum_pipeline.config.settings)."""

    library_dir: str = ""
    archive_dir: str = ""
    output_dir: str = ""
    taxonomy_path: str = ""
    confidence_threshold: float | None = None
    min_macro_f1: float | None = None
    max_epochs: int | None = None
    link_mode: str = ""
    synthetic_per_label: int | None = None
    keep_share: float | None = None

    def settings(self) -> Settings:
        return Settings.resolve(
            library_dir=self.library_dir or None,
            archive_dir=self.archive_dir or None,
            output_dir=self.output_dir or None,
            confidence_threshold=self.confidence_threshold,
            taxonomy_path=self.taxonomy_path or None,
            min_macro_f1=self.min_macro_f1,
            max_epochs=self.max_epochs,
            link_mode=self.link_mode or None,
            synthetic_per_label=self.synthetic_per_label,
            keep_share=self.keep_share,
        )
