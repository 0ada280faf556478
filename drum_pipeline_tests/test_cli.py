"""Every drum-pipeline subcommand as a subprocess, on the small demo's materialized outputs."""

import json
import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def env(indexed):
    config, output, archive, *_ = indexed
    environment = dict(os.environ, DRUM_LIBRARY_DIR=config.library_dir, DRUM_ARCHIVE_DIR=config.archive_dir,
                       DRUM_OUTPUT_DIR=str(output), TF_CPP_MIN_LOG_LEVEL="3")
    return environment, output, archive


def cli(environment, *args):
    return subprocess.run([sys.executable, "-m", "drum_pipeline.cli", *args], capture_output=True, text=True,
                          env=environment, timeout=300)


def _one_line_error(result):
    lines = [line for line in result.stderr.splitlines() if line.startswith("drum-pipeline")]
    assert lines and "Traceback" not in result.stderr, result.stderr[-1500:]
    return lines[-1]


def test_every_subcommand_has_help_with_an_example():
    for command in ("run", "ui", "demo", "classify", "rebuild", "validate", "stats", "similar"):
        result = cli(os.environ, command, "--help")
        assert result.returncode == 0 and "example:" in result.stdout, command


def test_classify_files_and_folders_as_table_json_and_jsonl(env):
    environment, output, archive = env
    broken = archive / "Downloads" / "broken"
    pack = archive / "Linn LM-1"
    table = cli(environment, "classify", str(pack), str(broken / "empty.wav"))
    assert table.returncode == 0, table.stderr[-1500:]
    assert "fine_label" in table.stdout and "empty file" in table.stdout
    assert "1 of" in table.stderr and "could not be read" in table.stderr
    rows = json.loads(cli(environment, "classify", str(pack), "--json").stdout)
    assert len(rows) == len(list(pack.rglob("*.wav"))) and {"label", "confidence", "sha256"} <= set(rows[0])
    lines = cli(environment, "classify", str(broken), "--jsonl").stdout.splitlines()
    assert len(lines) == 5 and all(json.loads(line)["status"] == "error" for line in lines)
    only_broken = cli(environment, "classify", str(broken))
    assert only_broken.returncode == 1  # nothing could be done


def test_rebuild_dry_run_changes_nothing_and_a_rebuild_is_idempotent(env, tmp_path):
    environment, output, archive = env
    rebuilt = output / "rebuilt"
    before = sorted(p.as_posix() for p in rebuilt.rglob("*"))
    unchanged = cli(environment, "rebuild", "--dry-run", "--json")
    assert unchanged.returncode == 0 and json.loads(unchanged.stdout) == []  # only changes are listed
    assert "0 to create, 0 to remove" in unchanged.stderr and "of them unsorted" in unchanged.stderr
    dry = cli(environment, "rebuild", "--mode", "copy", "--dry-run", "--json")
    changes = json.loads(dry.stdout)
    assert dry.returncode == 0 and "nothing changed" in dry.stderr and changes
    assert {c["change"] for c in changes} == {"create"} and "\\/" not in dry.stdout  # plain slashes
    assert sorted(p.as_posix() for p in rebuilt.rglob("*")) == before
    elsewhere = dict(environment, DRUM_OUTPUT_DIR=str(tmp_path / "out"))
    assert "run `drum-pipeline run` first" in _one_line_error(cli(elsewhere, "rebuild"))
    again = cli(environment, "rebuild")
    assert again.returncode == 0 and " 0 created" in again.stdout and "0 removed" in again.stdout


def test_validate_reports_each_problem_with_its_fix(env, tmp_path):
    environment, output, archive = env
    good = cli(environment, "validate")
    assert good.returncode == 0, good.stdout
    bad = cli(dict(environment, DRUM_OUTPUT_DIR=str(tmp_path / "none"), DRUM_ARCHIVE_DIR=str(tmp_path / "missing")),
              "validate")
    assert bad.returncode == 1
    problems = bad.stdout.splitlines()
    assert any("archive folder" in p and "does not exist" in p for p in problems)
    assert any("materialize the models" in p for p in problems)


def test_stats_and_similar(env, tmp_path):
    environment, output, archive = env
    stats = cli(environment, "stats")
    assert stats.returncode == 0 and "duplicates" in stats.stdout and "labelled" in stats.stdout
    some_file = next((archive / "Linn LM-1").rglob("*.wav"))
    similar = cli(environment, "similar", str(some_file), "-n", "3", "--json")
    assert similar.returncode == 0, similar.stderr[-1500:]
    nearest = json.loads(similar.stdout)
    assert len(nearest) == 3 and nearest[0]["distance"] <= nearest[-1]["distance"]
    assert some_file.relative_to(archive).as_posix() not in [n["path"] for n in nearest]  # not the query itself
    folder = cli(environment, "similar", str(archive / "Linn LM-1"))
    assert folder.returncode == 2 and "give one file" in _one_line_error(folder)
    typo = cli(dict(environment, DRUM_OUTPUT_DIR=str(tmp_path / "TYPO")), "stats")
    assert typo.returncode == 1 and str(tmp_path / "TYPO") in _one_line_error(typo)


def test_bad_arguments_are_one_line_errors(env, tmp_path):
    environment, output, archive = env
    assert cli(environment, "rebuild", "--mode", "move").returncode == 2
    missing = cli(environment, "classify", str(tmp_path / "nope.wav"))
    assert missing.returncode == 1 and "no such file" in missing.stderr
    some_file = next((archive / "Linn LM-1").rglob("*.wav"))
    one_missing = cli(environment, "classify", str(some_file), str(tmp_path / "nope.wav"))
    assert one_missing.returncode == 1 and "nope.wav: no such file" in one_missing.stderr
    version = cli(environment, "--version")
    assert version.returncode == 0 and version.stdout.startswith("drum-pipeline ")
    no_models = cli(dict(environment, DRUM_OUTPUT_DIR=str(tmp_path / "empty")), "classify", str(archive / "Linn LM-1"))
    assert no_models.returncode == 2 and "run `drum-pipeline run` first" in _one_line_error(no_models)
    assert cli(environment, "similar", str(tmp_path / "nope.wav")).returncode == 2


def test_bench_measures_every_figure_on_a_small_archive(env, tmp_path):
    environment, output, archive = env
    result = cli(environment, "bench", "--files", "60", "--peer-sample", "10", "--memory", "30",
                 "--work-dir", str(tmp_path / "bench"))
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads((tmp_path / "bench" / "bench.json").read_text())
    assert figures["files"] == 60 and figures["rescan_unchanged_classified"] == 0
    assert figures["rescan_1pct_classified"] == 1 and figures["peak_rss_mb_30"] > 50
    for key in ("limit_files_per_s", "peer_files_per_s", "extraction_files_per_s", "pipeline_files_per_s"):
        assert figures[key] > 0
    assert "pipeline / limit" in result.stdout and "feature extraction alone" in result.stdout
    assert cli(environment, "bench").returncode == 2  # neither --files nor --archive
