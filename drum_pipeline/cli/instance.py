"""The one Dagster home that `drum-pipeline run` and `dagster dev` share."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DEFAULT_DAGSTER_HOME = "data/dagster_home"
INSTANCE_TEMPLATE = Path(__file__).with_name("dagster.yaml")


def dagster_home() -> Path:
    """$DAGSTER_HOME, or data/dagster_home; created with the project's dagster.yaml (run queue,
    no telemetry) when it has none, and exported so Dagster finds it."""
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(INSTANCE_TEMPLATE, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
