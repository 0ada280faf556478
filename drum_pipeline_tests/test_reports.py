"""What the user reads, on tiny hand-made indexes (no models): the folder report, the run summary
against the mirror's ledger and `stats`, counts in the right number, and missing folders."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from drum_pipeline.archive.index import INDEX_COLUMNS
from drum_pipeline.archive.rebuild import plan
from drum_pipeline.archive.reports import folder_report, folder_summary_line
from drum_pipeline.cli.input_checks import input_problems
from drum_pipeline.cli.summary import format_summary, run_summary
from drum_pipeline.config.settings import Settings
from drum_pipeline.models.rejection import SortingRules
from drum_pipeline.words import counted


def _index(rows):
    base = {column: "" for column in INDEX_COLUMNS} | {
        "status": "ok", "confidence": 0.9, "model1_confidence": 0.9, "model2_confidence": 0.9, "drum_score": 0.9,
        "novelty": 0.5, "duration": 0.4, "peak": 0.8, "size": 100, "folder_agrees": False}
    rows = [base | {"pack": row["path"].split("/")[0], "label": row.get("predicted_label", "")} | row for row in rows]
    return pd.DataFrame(rows, columns=INDEX_COLUMNS)


def _cli(env, *args):
    return subprocess.run([sys.executable, "-m", "drum_pipeline.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_counts_are_in_the_right_number():
    assert counted(1, "Dagster run") == "1 Dagster run" and counted(2, "Dagster run") == "2 Dagster runs"
    assert counted(0, "file") == "0 files" and counted(3, "pack is", "packs are") == "3 packs are"
    one = {"files": 1, "packs": 1, "classes": {"kick": 1}, "unsorted": 0, "unsorted_by_reason": {}, "duplicates": 0,
           "errors": 0, "skipped": 0, "evaluation": {"ensemble_accuracy": 0.9, "ensemble_accuracy_interval": [0.8, 1],
                                                      "ensemble_macro_f1": 0.9, "test_files": 1},
           "outputs": {"rebuilt": "r", "index": "i", "report": "e"}, "warnings": [],
           "review": "50 files worth a look first (of 80 doubtful)"}
    text = format_summary(one)
    assert text.startswith("1 file in 1 pack: kick 1") and "on 1 test file," in text
    assert "review: 50 files worth a look first (of 80 doubtful)" in text
    assert "review:" not in format_summary({**one, "review": ""})
    assert format_summary({**one, "files": 72, "packs": 3}).startswith("72 files in 3 packs:")
    line = folder_summary_line({"files": 1, "presorted_files": 1, "presorted_share": 1.0, "presorted_folders": 1,
                                "one_class_folders": 1, "unsorted_folders": 2, "mixed_folders": 0})
    assert line.startswith("1 of 1 classified file (100%) sit in 1 folder the owner already sorted; 1 more folder "
                           "holds one class") and "2 are unsorted" in line and "0 are mixed" in line


def test_the_folder_report_counts_unsorted_files_and_claims_nothing_for_a_plain_name():
    index = _index(
        [{"path": f"FX/Loops/loop {i}.wav", "predicted_label": label, "label": "unsorted",
          "reason": "not like a drum one-shot (drum score 0.10 under 0.50)"}
         for i, label in enumerate(["percussion", "percussion", "tom", "percussion", "tom"])]
        + [{"path": f"FX/Kicks/kick {i}.wav", "predicted_label": "kick", "folder_label": "kick"} for i in range(3)]
        + [{"path": f"FX/misc/{i}.wav", "predicted_label": label} for i, label in enumerate(["snare", "kick", "tom"])])
    table, summary = folder_report(index)
    row = table.set_index("folder").loc
    assert row["FX/Loops", "audio_mix"] == "unsorted 5" and row["FX/Loops", "state"] == "unsorted"
    assert row["FX/Loops", "suggested_label"] == "" and np.isnan(row["FX/Loops", "name_agrees"])
    assert (row["FX/Kicks", "state"], row["FX/Kicks", "name_agrees"]) == ("pre-sorted", 1.0)
    assert row["FX/misc", "state"] == "mixed" and np.isnan(row["FX/misc", "name_agrees"])
    assert (summary["unsorted_folders"], summary["presorted_folders"], summary["mixed_folders"]) == (1, 1, 1)
    assert "1 is unsorted" in folder_summary_line(summary)


def test_the_run_summary_counts_what_the_mirror_and_stats_count(tmp_path):
    """A file found in two packs is placed once: the summary, the ledger and `stats` agree on it."""
    archive = tmp_path / "archive"
    for name in ("P/a.wav", "P/b.wav", "P/broken.wav", "Q/a copy.wav", "Q/c.wav"):
        (archive / name).parent.mkdir(parents=True, exist_ok=True)
        (archive / name).write_bytes(b"x")
    settings = Settings.build(library_dir=str(tmp_path / "library"), archive_dir=str(archive),
                              output_dir=str(tmp_path / "out"))
    index = _index([
        {"path": "P/a.wav", "sha256": "1", "predicted_label": "kick"},
        {"path": "P/b.wav", "sha256": "2", "predicted_label": "snare", "label": "unsorted", "confidence": 0.3,
         "reason": "low confidence (0.30 under 0.50)"},
        {"path": "P/broken.wav", "status": "error", "label": "unsorted", "error": "empty file (0 bytes)"},
        {"path": "Q/a copy.wav", "sha256": "1", "predicted_label": "kick"},  # the bytes of P/a.wav
        {"path": "Q/c.wav", "sha256": "3", "predicted_label": "hihat"},
    ])
    for pack in ("P", "Q"):
        settings.layout.write_partition("archive_index", pack, index[index["pack"] == pack])
    _, ledger = plan(index, archive, SortingRules(confidence_threshold=0.5))
    settings.layout.write_table("rebuilt_archive", ledger)

    summary = run_summary(settings)
    placed = ledger[ledger["status"] == "placed"]
    assert summary["classes"] == placed[placed["label"] != "unsorted"]["label"].value_counts().to_dict() \
        == {"kick": 1, "hihat": 1}
    assert summary["unsorted"] == 1 and summary["unsorted_by_reason"] == {"low confidence": 1}
    assert (summary["duplicates"], summary["errors"], summary["files"], summary["packs"]) == (1, 1, 5, 2)
    stats = _cli({"DRUM_OUTPUT_DIR": str(settings.output_dir), "DRUM_ARCHIVE_DIR": str(archive)}, "stats")
    assert stats.returncode == 0, stats.stderr
    assert f"archive {archive}: 5 files, 1 duplicate, 1 error, 1 unsorted" in stats.stdout


def test_a_missing_folder_is_blamed_on_the_flag_or_the_variable_that_named_it(tmp_path):
    missing = tmp_path / "missing"
    settings = Settings.build(library_dir=str(tmp_path), archive_dir=str(missing), output_dir=str(tmp_path / "out"))
    assert f"archive folder {missing} does not exist: check --archive" in input_problems(settings, {"archive"})
    assert f"archive folder {missing} does not exist: check DRUM_ARCHIVE_DIR" in input_problems(settings)
    validate = _cli({"DRUM_OUTPUT_DIR": str(tmp_path / "out")}, "validate", "--archive", str(missing))
    assert validate.returncode == 1 and f"archive folder {missing} does not exist: check --archive" in validate.stdout


@pytest.mark.parametrize("command", [["review"], ["stats"], ["stats", "--folders"], ["rebuild", "--dry-run"],
                                     ["correct", "x.wav", "kick"]])
def test_a_missing_archive_is_a_one_line_error(tmp_path, command):
    missing = tmp_path / "missing"
    env = {"DRUM_OUTPUT_DIR": str(tmp_path / "out"), "DAGSTER_HOME": str(tmp_path / "home")}
    done = _cli(env, *command, "--archive", str(missing))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [f"drum-pipeline: archive folder {missing} does not exist: check --archive"]
    if command[0] in ("rebuild", "correct"):  # they would empty the mirror: the archive must exist, however named
        done = _cli({**env, "DRUM_ARCHIVE_DIR": str(missing)}, *command)
        assert done.returncode == 2 and done.stderr.strip().endswith("does not exist: check DRUM_ARCHIVE_DIR")
