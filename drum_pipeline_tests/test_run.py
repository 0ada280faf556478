"""`drum-pipeline run` as a user runs it (a subprocess): inputs checked first, incremental on a
persistent Dagster home that the sensors share, a closing summary that matches the index, and
quiet terminal output."""

import json
import os
import re
import shutil
import subprocess
import sys

import dagster as dg
import pandas as pd
import pytest

from drum_pipeline.defs.resources import DrumPipelineConfig


def _cli(*args, env, timeout=900, cwd=None):
    return subprocess.run([sys.executable, "-m", "drum_pipeline.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=cwd)


@pytest.fixture(scope="module")
def run_env(small_demo, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_run")
    # the first run finds its Dagster home by default (data/dagster_home under the folder it runs in)
    env = {**os.environ, "DAGSTER_HOME": str(root / "data" / "dagster_home"),
           "DRUM_LIBRARY_DIR": str(small_demo / "library"), "DRUM_ARCHIVE_DIR": str(small_demo / "archive"),
           "DRUM_OUTPUT_DIR": str(root / "out"),
           "DRUM_MAX_EPOCHS": "2", "DRUM_SYNTHETIC_PER_LABEL": "2", "DRUM_MIN_MACRO_F1": "0"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI must quieten TensorFlow by itself
    return env, root


@pytest.fixture(scope="module")
def first_run(run_env):
    """One full run (quick training) with the folders named by DRUM_* variables and no DAGSTER_HOME, in
    a folder of its own; its summary as JSON."""
    env, root = run_env
    done = _cli("run", "--json", env={k: v for k, v in env.items() if k != "DAGSTER_HOME"}, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads(done.stdout)


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_a_missing_or_empty_archive_fails_in_seconds_with_one_line(make, tmp_path, small_demo):
    archive = tmp_path / "archive"
    if make == "empty":
        archive.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}
    done = _cli("run", "--library", str(small_demo / "library"), "--archive", str(archive),
                         "--output", str(tmp_path / "out"), env=env, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(archive) in lines[0], done.stderr
    assert make == "empty" or lines[0].endswith("check --archive")  # the flag named it, not DRUM_ARCHIVE_DIR
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_a_library_without_drum_names_fails_before_training(tmp_path, small_demo):
    library = tmp_path / "library"
    library.mkdir()
    source = next((small_demo / "library").rglob("*.wav"))
    (library / "take 1.wav").write_bytes(source.read_bytes())
    done = _cli("run", "--library", str(library), "--archive", str(small_demo / "archive"),
                   "--output", str(tmp_path / "out"), env={**os.environ, "DAGSTER_HOME": str(tmp_path / "home")},
                   timeout=60)
    assert done.returncode == 2 and "named as a drum" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_summary_counts_equal_the_mirror_and_the_index(first_run, run_env):
    _, root = run_env
    _, summary = first_run
    index = pd.read_parquet(root / "out" / "tables" / "archive_index")
    ledger = pd.read_parquet(root / "out" / "tables" / "rebuilt_archive.parquet")
    placed = ledger[ledger["status"] == "placed"]
    assert summary["files"] == len(index) == len(ledger) > 0
    assert summary["classes"] == placed[placed["label"] != "unsorted"]["label"].value_counts().to_dict()
    assert summary["unsorted"] == (placed["label"] == "unsorted").sum() == sum(summary["unsorted_by_reason"].values())
    # the demo's copies across packs are duplicates of the mirror, not of their pack's index
    assert summary["duplicates"] == (ledger["status"] == "duplicate").sum() > (index["status"] == "duplicate").sum()
    assert summary["errors"] == (index["status"] == "error").sum()  # the demo has unreadable files
    assert sum(summary["classes"].values()) + summary["unsorted"] + summary["duplicates"] + summary["errors"] \
        + summary["skipped"] == len(index)
    assert summary["evaluation"]["ensemble_accuracy"] is not None
    assert summary["outputs"]["rebuilt"] == str(root / "out" / "rebuilt")
    assert summary["warnings"] == []  # the library is the user's own here


def test_the_variables_name_the_folders_and_no_demo_is_written(first_run, run_env):
    _, root = run_env
    _, summary = first_run
    assert summary["outputs"]["rebuilt"] == str(root / "out" / "rebuilt")
    # user-named folders: nothing written under data/ but the default Dagster home
    assert [p.name for p in (root / "data").iterdir()] == ["dagster_home"]
    assert (root / "data" / "dagster_home" / "dagster.yaml").exists()


def test_without_verbose_no_tensorflow_or_dagster_debug_lines(first_run):
    done, _ = first_run
    assert "epoch" not in done.stderr or re.search(r"epoch \d+/\d+", done.stderr)
    for noise in ("DEBUG", "cudart_stub", "cuInit", "oneDNN", "absl::InitializeLog", "retracing", "BetaWarning"):
        assert noise not in done.stderr, noise
    assert not re.search(r"^[IWE]\d{4} ", done.stderr, re.MULTILINE)


def test_a_second_run_with_nothing_changed_trains_nothing(first_run, run_env):
    env, _ = run_env
    _, before = first_run
    done = _cli("run", "--json", env=env)
    assert done.returncode == 0, done.stderr
    again = json.loads(done.stdout)
    assert again["trained"] == [] and again["classified_packs"] == [] and not again["rebuilt"]
    assert {k: v for k, v in again.items() if k not in ("trained", "classified_packs", "rebuilt")} == {
        k: v for k, v in before.items() if k not in ("trained", "classified_packs", "rebuilt")}


def test_after_a_run_the_sensors_against_the_same_home_request_nothing(first_run, run_env):
    from drum_pipeline.definitions import defs as load_definitions

    defs = load_definitions()

    env, root = run_env
    config = DrumPipelineConfig(library_dir=env["DRUM_LIBRARY_DIR"], archive_dir=env["DRUM_ARCHIVE_DIR"],
                                output_dir=env["DRUM_OUTPUT_DIR"])
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        sensor = defs.get_sensor_def("archive_sensor")
        result = sensor(dg.build_sensor_context(instance=instance, resources={"config": config}))
        assert not result.run_requests and not result.dynamic_partitions_requests, result.skip_reason
        automation = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert automation.total_requested == 0


def test_a_new_output_folder_with_the_same_home_trains_and_sorts_it(first_run, run_env, small_demo):
    """Freshness follows the output folder, not only the Dagster home: a run into a new folder, with
    another archive, trains and classifies there; the home keeps the first archive's packs."""
    env, root = run_env
    archive = root / "another archive"
    shutil.copytree(small_demo / "archive" / "Linn LM-1", archive / "Linn LM-1")
    done = _cli("run", "--json", "--archive", str(archive), "--output", str(root / "new out"), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    assert "model1" in summary["trained"] and summary["classified_packs"] == ["Linn LM-1"] and summary["rebuilt"]
    assert summary["packs"] == 1 and summary["files"] > 0
    assert (root / "new out" / "models" / "deployed").is_dir()
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert set(instance.get_dynamic_partitions("archive_packs")) == set(first_run[1]["classified_packs"])
