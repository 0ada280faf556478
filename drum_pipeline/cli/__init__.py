"""The `drum-pipeline` command and its helpers: the incremental run, the summary, the input
checks, the Dagster home, the benchmark. Nothing here is imported by the Dagster definitions."""

from drum_pipeline.cli.commands import main

__all__ = ["main"]
