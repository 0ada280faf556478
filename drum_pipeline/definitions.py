"""The one Definitions object of drum-pipeline: everything under defs/, loaded when Dagster loads
the code location (`dagster dev`, `dagster job execute -m drum_pipeline.definitions`)."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
