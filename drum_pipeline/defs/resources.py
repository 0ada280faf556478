"""The pipeline's resources: its configuration (paths and thresholds), and the IO manager that
moves tables between assets through the stable Parquet paths users open."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from drum_pipeline.config.layout import OutputLayout, write_atomic
from drum_pipeline.config.settings import (
    DEFAULT_ARCHIVE_DIR,
    DEFAULT_KEEP_SHARE,
    DEFAULT_LIBRARY_DIR,
    DEFAULT_LINK_MODE,
    DEFAULT_MIN_MACRO_F1,
    DEFAULT_OUTPUT_DIR,
    ENVIRONMENT,
    Settings,
)
from drum_pipeline.labels.taxonomy import DEFAULT_TAXONOMY_PATH


class DrumPipelineConfig(dg.ConfigurableResource):
    """Where to read and write, and the thresholds; its defaults are the real folders. The
    definitions fill it from the DRUM_* variables (from_values), and a run config may set any field."""

    library_dir: str = DEFAULT_LIBRARY_DIR
    archive_dir: str = DEFAULT_ARCHIVE_DIR
    output_dir: str = DEFAULT_OUTPUT_DIR
    cache_dir: str = ""
    taxonomy_path: str = str(DEFAULT_TAXONOMY_PATH)
    confidence_threshold: float | None = None
    min_macro_f1: float = DEFAULT_MIN_MACRO_F1
    max_epochs: int = 0
    link_mode: str = DEFAULT_LINK_MODE
    synthetic_per_label: int | None = None
    keep_share: float = DEFAULT_KEEP_SHARE
    ignore_names: bool = False
    base_corpus: bool = True
    base_corpus_exclude: str = ""  # comma-separated sources
    accurate: bool = False  # the pretrained embedding's member (audio/embeddings.py)

    @classmethod
    def from_values(cls, values: dict) -> DrumPipelineConfig:
        """The resource for `values` (config.settings.from_environment): a path its DRUM_* variable
        set stays an EnvVar, so the UI shows where it came from."""
        given = {key: value for key, value in values.items() if key in cls.model_fields and value is not None}
        for key in ("library_dir", "archive_dir", "output_dir", "cache_dir", "taxonomy_path", "link_mode"):
            if given.get(key) and given[key] != cls.model_fields[key].default:
                given[key] = dg.EnvVar(ENVIRONMENT[key])
        return cls(**given)

    def settings(self) -> Settings:
        return Settings.build(library_dir=self.library_dir, archive_dir=self.archive_dir, output_dir=self.output_dir,
                              cache_dir=self.cache_dir or None, taxonomy_path=self.taxonomy_path,
                              confidence_threshold=self.confidence_threshold, min_macro_f1=self.min_macro_f1,
                              keep_share=self.keep_share, link_mode=self.link_mode, max_epochs=self.max_epochs,
                              synthetic_per_label=self.synthetic_per_label, ignore_names=self.ignore_names,
                              base_corpus=self.base_corpus, base_corpus_exclude=self.base_corpus_exclude,
                              accurate=self.accurate)


class TableIOManager(dg.IOManager):
    """Tables as Parquet at `tables/<asset>.parquet` (a partitioned asset: `tables/<asset>/<partition>.parquet`,
    with JSON lines beside them), and small values (a dict) as JSON at `tables/<asset>.json`, under
    the output folder of the run's `config` resource. An asset that returns None (its files are
    models, written through the model store) stores nothing."""

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        if obj is None:
            return
        name = context.asset_key.path[-1]
        layout = _layout(context)
        if context.has_asset_partitions:
            for key in context.asset_partition_keys:  # a run of many partitions returns {partition: table}
                layout.write_partition(name, key, obj[key] if isinstance(obj, dict) else obj)
        elif isinstance(obj, pd.DataFrame):
            layout.write_table(name, obj)
        else:
            write_atomic(layout.value_path(name), lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=1)))

    def load_input(self, context: dg.InputContext):
        name = context.upstream_output.asset_key.path[-1]
        layout = _layout(context)
        if context.has_asset_partitions:
            # A partitioned step reads its own partitions; an unpartitioned one (the rebuild) every
            # partition written, and keeps the packs of its archive.
            keys = set(context.asset_partition_keys) if context.has_partition_key else None
            return layout.read_partitions(name, keys=keys)
        value = layout.read_value(name)
        return value if value is not None else layout.read_table(name)


def _layout(context) -> OutputLayout:
    return context.resources.config.settings().layout


@dg.io_manager(required_resource_keys={"config"})
def table_io_manager(_) -> TableIOManager:
    """The TableIOManager, on the run's `config` resource (so a run's own paths are its tables' paths)."""
    return TableIOManager()


def pipeline_resources(config: DrumPipelineConfig) -> dict:
    """The resources every asset of the pipeline needs: the configuration and the table IO manager."""
    return {"config": config, "io_manager": table_io_manager}
