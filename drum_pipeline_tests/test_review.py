"""The user in the loop: corrections through the CLI (index and mirror at once, then the retrain),
bad corrections, the review queue, and the folder report against the demo's truth."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from drum_pipeline.archive.corrections import (
    CorrectionError,
    archive_relpath,
    corrections_problems,
    read_corrections,
    resolve_label,
)
from drum_pipeline.archive.reports import FOLDER_STATES, folder_report
from drum_pipeline.definitions import defs as load_definitions
from drum_pipeline.defs.resources import pipeline_resources
from drum_pipeline.demo.data import read_manifest
from drum_pipeline.labels.taxonomy import load_taxonomy

defs = load_definitions()


def _cli(env, *args):
    return subprocess.run([sys.executable, "-m", "drum_pipeline.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def _truth(archive) -> dict[str, str]:
    """The demo's true class of every drum file of the archive."""
    to_class = load_taxonomy().fine_to_class
    return {row["relpath"]: to_class[row["fine_label"]] for row in read_manifest(archive) if row["fine_label"]}


@pytest.fixture(scope="module")
def own_output(indexed_copy):
    """A copy of the indexed output (the session's stays as it is), with the environment the CLI reads."""
    return indexed_copy("review")


def _index(output) -> pd.DataFrame:
    return pd.read_parquet(output / "tables" / "archive_index").set_index("path")


@pytest.fixture(scope="module")
def corrected(own_output):
    """Three classified archive files given a label the models did not give, with `drum-pipeline
    correct`: their true class where the models missed it, another class where they did not."""
    config, output, archive, env = own_output
    index, truth = _index(output), _truth(archive)
    classes = list(load_taxonomy().classes)
    chosen = [path for path, row in index.iterrows() if row["status"] == "ok" and path in truth][:3]
    labels = {}
    for path in chosen:
        predicted = index.loc[path, "predicted_label"]
        labels[path] = truth[path] if truth[path] != predicted else next(c for c in classes if c != predicted)
        result = _cli(env, "correct", str(archive / path), labels[path])
        assert result.returncode == 0, result.stderr
    return chosen, labels


def test_a_correction_changes_the_index_and_the_mirror_at_once(own_output, corrected):
    _, output, archive, _ = own_output
    wrong, truth = corrected
    index = _index(output)
    ledger = pd.read_parquet(output / "tables/rebuilt_archive.parquet").set_index("path")
    for path in wrong:
        assert (index.loc[path, "label"], index.loc[path, "label_source"]) == (truth[path], "correction")
        assert index.loc[path, "predicted_label"] != truth[path]  # what the models said is kept beside it
        target = ledger.loc[path, "target"]
        assert target.startswith(f"{truth[path]}/") and ledger.loc[path, "label_source"] == "correction"
        assert os.path.realpath(output / "rebuilt" / target) == os.path.realpath(archive / path)
    corrections = pd.read_csv(output / "corrections.csv", dtype=str, keep_default_na=False)
    assert sorted(corrections["path"]) == sorted(wrong)
    assert set(corrections["sha256"]) == set(index.loc[wrong, "sha256"])  # keyed by content


@pytest.mark.parametrize("given, label, message", [
    ("{archive}/Linn LM-1/ROM dump/0x01.wav", "kik", "unknown label 'kik'"),
    ("{outside}/secret.wav", "kick", "not inside the archive"),
    ("{archive}/Linn LM-1/not there.wav", "kick", "not in the archive index"),
])
def test_a_bad_correction_says_why_in_one_line_and_changes_nothing(own_output, corrected, tmp_path, given, label,
                                                                   message):
    _, output, archive, env = own_output
    watched = [output / "corrections.csv", output / "tables/rebuilt_archive.parquet",
               *sorted((output / "tables/archive_index").glob("*.parquet"))]
    before = [path.read_bytes() for path in watched]
    result = _cli(env, "correct", given.format(archive=archive, outside=tmp_path), label)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert [path.read_bytes() for path in watched] == before


def test_the_next_retrain_learns_from_the_corrections_and_reports_them(own_output, corrected, trained):
    config, output, _, _ = own_output
    wrong, _ = corrected
    _, _, _, trained_instance = trained

    def main_job_requested(instance):
        context = dg.build_sensor_context(instance=instance, resources={"config": config})
        requests = defs.get_sensor_def("archive_sensor")(context).run_requests or []
        return any(request.job_name == "drum_pipeline" for request in requests)

    assert main_job_requested(trained_instance)  # the corrections file is new to that instance
    # Models of four epochs scored on 21 test files are no yardstick for the gate against the deployed
    # ones (a retrain scored 0.75 against their 0.92, with the same trees): without them, it deploys.
    shutil.rmtree(output / "models" / "deployed")
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("drum_pipeline").execute_in_process(
            instance=instance, run_config={"resources": {"config": {"config": config.model_dump()}}})
        assert result.success
        assert not main_job_requested(instance)  # observed: nothing new
    curated = pd.read_parquet(output / "tables/curated_training_set.parquet")
    mine = curated[curated["source"] == "correction"]
    assert sorted(mine["path"]) == sorted(str(Path(config.archive_dir).absolute() / path) for path in wrong)
    assert curated.groupby("group")["split"].nunique().max() == 1  # no group straddles splits
    evaluation = result.asset_materializations_for_node("evaluation_report")[0].metadata
    assert "accuracy_before" in evaluation["corrected_files"].value
    report = json.loads((output / "reports/corrected_files.json").read_text())[0]
    assert report["files"] == 3
    assert report["accuracy_before"] == 0.0  # the models gave other labels: that is why they were corrected
    assert 0.0 <= report["accuracy_after"] <= 1.0


def test_the_review_queue_ranks_doubtful_files_and_links_them(own_output, corrected):
    config, output, archive, env = own_output
    instance = dg.DagsterInstance.ephemeral()
    packs = sorted({p.stem for p in (output / "tables/archive_index").glob("*.parquet")})
    instance.add_dynamic_partitions("archive_packs", packs)
    result = dg.materialize(list(defs.assets), selection=["review_queue"], resources=pipeline_resources(config),
                            instance=instance)
    assert result.success
    queue = pd.read_parquet(output / "tables/review_queue.parquet")
    assert len(queue) > 0 and queue["chance"].is_monotonic_decreasing and (queue["why"] != "").all()
    assert not set(corrected[0]) & set(queue["path"])  # already corrected: nothing more to learn there
    first = queue.iloc[0]
    assert first["uri"] == (archive / first["path"]).absolute().as_uri()
    printed = _cli(env, "review", "-n", "3", "--json")
    assert printed.returncode == 0, printed.stderr
    assert [row["path"] for row in json.loads(printed.stdout)] == list(queue["path"][:3])


def test_the_folder_report_finds_the_presorted_leaves(own_output):
    """The report's logic against the demo's truth: the quick test models' labels are too
    unreliable to decide pre-sorted folders, so the audio's label is the manifest's here. The
    asset and `stats --folders` run on the models' own labels."""
    config, output, archive, env = own_output
    index = pd.read_parquet(output / "tables" / "archive_index")
    truth = _truth(archive)
    drums = index[index["path"].isin(truth.keys())].copy()
    drums["predicted_label"] = drums["label"] = drums["path"].map(truth)
    table, summary = folder_report(drums)
    state = dict(zip(table["folder"], table["state"], strict=True))
    presorted = {f"Vengeance Minimal/{leaf}" for leaf in ("Kicks", "Hats", "Percs")}
    assert {folder for folder, s in state.items() if s == "pre-sorted"} == presorted
    mixed = [folder for folder in state if folder not in presorted and folder != "."
             and (table.set_index("folder").loc[folder, "files"] >= 4)]
    assert mixed and all(state[folder] == "mixed" for folder in mixed)
    suggested = dict(zip(table["folder"], table["suggested_label"], strict=True))
    assert suggested["Vengeance Minimal/Kicks"] == "kick" and suggested["Vengeance Minimal/Hats"] == "hihat"
    assert 0 < summary["presorted_share"] < 1

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("archive_packs", sorted(index["pack"].unique()))
    assert dg.materialize(list(defs.assets), selection=["folder_report"], resources=pipeline_resources(config),
                          instance=instance).success
    report = pd.read_parquet(output / "tables/folder_report.parquet")
    assert presorted <= set(report["folder"]) and set(report["state"]) <= set(FOLDER_STATES)
    printed = _cli(env, "stats", "--folders")
    assert printed.returncode == 0 and "Vengeance Minimal/Kicks" in printed.stdout and "already sorted" in printed.stdout


def test_labels_paths_and_a_hand_edited_corrections_file(tmp_path):
    taxonomy = load_taxonomy()
    assert resolve_label(taxonomy, "Ride Bell") == ("cymbal", "ride_bell")
    assert resolve_label(taxonomy, "kick")[0] == "kick"
    archive = tmp_path / "archive"
    assert archive_relpath(archive, str(archive / "Pack/../Pack/a.wav")) == "Pack/a.wav"
    assert archive_relpath(archive, "Pack/a.wav") == "Pack/a.wav"  # relative to the archive
    with pytest.raises(CorrectionError, match="not inside the archive"):
        archive_relpath(archive, str(archive / "../elsewhere.wav"))
    edited = tmp_path / "corrections.csv"
    edited.write_text("sha256,label\naa,kick\nbb,kik\naa,snare\n")
    assert read_corrections(edited).set_index("sha256")["label"].to_dict() == {"aa": "snare", "bb": "kik"}
    assert corrections_problems(edited, taxonomy) == [f"{edited}, line 3: unknown label 'kik': give a class "
                                                      "(kick, snare, hihat, tom, cymbal, percussion), a fine label "
                                                      "of the taxonomy, non_drum or unsorted"]
