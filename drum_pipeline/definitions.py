"""The one Definitions object of drum-pipeline: everything under defs/, loaded when Dagster loads
the code location (`dagster dev`, `dagster job execute -m drum_pipeline.definitions`)."""

from pathlib import Path

import dagster as dg

import drum_pipeline.defs


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_defs(defs_root=drum_pipeline.defs, project_root=Path(__file__).parent.parent)
