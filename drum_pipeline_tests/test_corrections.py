"""The corrections file on tiny hand-made data (no models): malformed lines, non-drum corrections,
and corrections given by a path in the rebuilt mirror."""

import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from drum_pipeline.archive.corrections import (
    CORRECTION_COLUMNS,
    CorrectionError,
    add_correction,
    apply_corrections,
    corrected_training_rows,
    corrections_problems,
    read_corrections,
    restore_correction,
    restore_rows,
)
from drum_pipeline.archive.index import INDEX_COLUMNS
from drum_pipeline.archive.rebuild import plan
from drum_pipeline.archive.reports import folder_report, review_queue
from drum_pipeline.config.layout import OutputLayout
from drum_pipeline.labels.taxonomy import load_taxonomy

HEADER = ",".join(CORRECTION_COLUMNS)


def _index(rows):
    """Index rows of pack P, classified kick with some doubt (so the review queue lists them)."""
    base = {column: "" for column in INDEX_COLUMNS} | {
        "pack": "P", "status": "ok", "label": "kick", "predicted_label": "kick", "fine_label": "kick",
        "confidence": 0.55, "model1_label": "kick", "model1_confidence": 0.6, "model2_label": "snare",
        "model2_confidence": 0.5, "drum_score": 0.9, "novelty": 0.5, "duration": 0.4, "peak": 0.8, "size": 100,
        "folder_agrees": False}
    return pd.DataFrame([base | row for row in rows], columns=INDEX_COLUMNS)


@pytest.fixture
def archive(tmp_path):
    """An archive of pack P (a.wav, b.wav, c.wav) and its index."""
    root = tmp_path / "archive"
    (root / "P").mkdir(parents=True)
    for name in ("a", "b", "c"):
        (root / "P" / f"{name}.wav").write_bytes(name.encode())
    index = _index([{"path": f"P/{name}.wav", "sha256": sha} for name, sha in (("a", "1"), ("b", "2"), ("c", "3"))])
    return root, index


def _cli(env, *args):
    return subprocess.run([sys.executable, "-m", "drum_pipeline.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_a_malformed_line_is_skipped_named_and_kept(archive, tmp_path):
    root, index = archive
    path = tmp_path / "out" / "corrections.csv"
    path.parent.mkdir()
    path.write_text(f"{HEADER}\n1,snare,,P/a.wav,P,kick\n,,,,,,,,,\n2,\"tom,,P/b.wav,P,kick\n"
                    "2,hihat,,P/b.wav,P,kick\n,cymbal\n")
    assert read_corrections(path).set_index("sha256")["label"].to_dict() == {"1": "snare", "2": "hihat"}
    assert corrections_problems(path, load_taxonomy()) == [
        f"{path}, line 3: expected 6 fields, saw 10",
        f"{path}, line 4: broken quotes (unexpected end of data)",
        f"{path}, line 6: no sha256: the line names no file"]

    # everything else goes on with the good lines
    corrected = apply_corrections(index, read_corrections(path)).set_index("path")
    assert corrected.loc[["P/a.wav", "P/b.wav"], "label"].tolist() == ["snare", "hihat"]
    _, ledger = plan(apply_corrections(index, read_corrections(path)), root)
    assert ledger.set_index("path").loc["P/b.wav", "target"] == "hihat/P/b.wav"
    assert list(review_queue(corrected.reset_index(), root)["path"]) == ["P/c.wav"]
    assert folder_report(corrected.reset_index())[0]["files"].tolist() == [3]
    assert len(corrected_training_rows(read_corrections(path), root)) == 2
    layout = OutputLayout(tmp_path / "out")
    layout.write_partition("archive_index", "P", index)
    env = {**os.environ, "DRUM_OUTPUT_DIR": str(layout.root), "DRUM_ARCHIVE_DIR": str(root)}
    for command in (["review", "--json"], ["stats", "--folders"], ["rebuild", "--dry-run"]):
        done = _cli(env, *command)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (command, done.stderr)

    # a correction rewrites the good lines and keeps the malformed ones, as they were, for the user to mend
    add_correction(path, index, root, load_taxonomy(), str(root / "P/c.wav"), "kick")
    assert read_corrections(path).set_index("sha256")["label"].to_dict() == {"1": "snare", "2": "hihat", "3": "kick"}
    assert path.read_text().splitlines()[-3:] == [",,,,,,,,,", '2,"tom,,P/b.wav,P,kick', ",cymbal"]


def test_an_empty_or_headless_corrections_file(tmp_path):
    path = tmp_path / "corrections.csv"
    path.write_text("")
    assert read_corrections(path).empty and corrections_problems(path, load_taxonomy()) == []
    path.write_text("hash,class\n1,kick\n")
    assert corrections_problems(path, load_taxonomy()) == [f"{path}: the column(s) sha256, label are missing"]
    with pytest.raises(CorrectionError, match="column"):
        read_corrections(path)


@pytest.mark.parametrize("given", ["non_drum", "unsorted", "Non Drum"])
def test_a_file_corrected_to_non_drum_is_unsorted_and_no_training_drum(archive, tmp_path, given):
    root, index = archive
    path = tmp_path / "corrections.csv"
    taxonomy = load_taxonomy()
    add_correction(path, index, root, taxonomy, "P/a.wav", given)
    add_correction(path, index, root, taxonomy, "P/b.wav", "snare")
    kept = read_corrections(path).set_index("path")
    assert (kept.loc["P/a.wav", "label"], kept.loc["P/a.wav", "fine_label"]) == (given.lower().replace(" ", "_"), "")
    assert corrections_problems(path, taxonomy) == []

    corrected = apply_corrections(index, read_corrections(path))
    row = corrected.set_index("path").loc["P/a.wav"]
    assert (row["label"], row["fine_label"], row["label_source"]) == ("unsorted", "", "correction")
    assert row["predicted_label"] == "kick"  # what the models said is kept beside it
    _, ledger = plan(corrected, root)
    placed = ledger.set_index("path").loc["P/a.wav"]
    assert placed["target"] == "unsorted/P/a.wav" and placed["label_source"] == "correction"
    assert "P/a.wav" not in set(review_queue(corrected, root)["path"])
    training = corrected_training_rows(read_corrections(path), root)
    assert list(training["path"]) == [str(root.absolute() / "P/b.wav")] and list(training["label"]) == ["snare"]


def test_a_path_in_the_rebuilt_mirror_is_followed_to_its_original(archive, tmp_path, monkeypatch):
    root, index = archive
    layout = OutputLayout(tmp_path / "out")
    (layout.rebuilt_dir / "kick/P").mkdir(parents=True)
    os.symlink(root / "P/a.wav", layout.rebuilt_dir / "kick/P/a.wav")  # symlink mode
    shutil.copy(root / "P/b.wav", layout.rebuilt_dir / "kick/P/b (2).wav")  # a copy (or a hard link)
    ledger = pd.DataFrame({"path": ["P/a.wav", "P/b.wav"], "status": "placed",
                           "target": ["kick/P/a.wav", "kick/P/b (2).wav"]})
    layout.write_table("rebuilt_archive", ledger)
    taxonomy = load_taxonomy()

    def correct(given):
        return add_correction(layout.corrections_path, index, root, taxonomy, given, "snare", layout.rebuilt_dir,
                              layout.table_path("rebuilt_archive"))["path"]

    assert correct(str(layout.rebuilt_dir / "kick/P/a.wav")) == "P/a.wav"
    monkeypatch.chdir(tmp_path)
    assert correct("out/rebuilt/kick/P/b (2).wav") == "P/b.wav"  # by the ledger, relative to here
    assert correct("archive/P/c.wav") == "P/c.wav"  # an archive path as before
    with pytest.raises(CorrectionError, match="not an entry of the rebuilt mirror"):
        correct("out/rebuilt/kick/P/gone.wav")


def test_undoing_a_correction_puts_back_its_line_and_its_rows(archive, tmp_path):
    root, index = archive
    path = tmp_path / "corrections.csv"
    taxonomy = load_taxonomy()
    add_correction(path, index, root, taxonomy, str(root / "P/a.wav"), "snare")  # corrected before the page
    before_file = read_corrections(path)
    before_rows = apply_corrections(index, before_file)
    # the page corrects a.wav again and b.wav for the first time; both are undone, last first
    undo = []
    for name, label in (("a", "tom"), ("b", "non_drum")):
        sha = index.loc[index["path"] == f"P/{name}.wav", "sha256"].iloc[0]
        old = read_corrections(path)
        previous = old[old["sha256"] == sha].to_dict("records")
        rows = apply_corrections(index, old)
        undo.append((sha, previous[0] if previous else None, rows[rows["sha256"] == sha]))
        add_correction(path, index, root, taxonomy, str(root / f"P/{name}.wav"), label)
    corrected = apply_corrections(index, read_corrections(path))
    assert list(corrected["label"]) == ["tom", "unsorted", "kick"]
    for sha, previous, rows in reversed(undo):
        restore_correction(path, sha, previous)
        corrected = restore_rows(corrected, rows)
    assert read_corrections(path).to_dict("records") == before_file.to_dict("records")
    pd.testing.assert_frame_equal(corrected, before_rows)


def test_undo_keeps_the_malformed_lines(archive, tmp_path):
    root, index = archive
    path = tmp_path / "corrections.csv"
    path.write_text(f"{HEADER}\n2,\"tom,,P/b.wav,P,kick\n")
    add_correction(path, index, root, load_taxonomy(), str(root / "P/a.wav"), "snare")
    restore_correction(path, "1", None)
    assert read_corrections(path).empty
    assert path.read_text() == f"{HEADER}\n2,\"tom,,P/b.wav,P,kick\n"
