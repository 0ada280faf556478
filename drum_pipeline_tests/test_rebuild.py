import os
import subprocess

import pandas as pd
import pytest

from drum_pipeline.archive.index import ROOT_PACK, SortingRules
from drum_pipeline.archive.rebuild import Entry, RebuildError, apply, plan


def _index(rows):
    base = {"sha256": "", "status": "ok", "predicted_label": "kick", "fine_label": "kick", "confidence": 0.9,
            "duration": 0.5, "novelty": 1.0, "duplicate_of": "", "error": ""}
    return pd.DataFrame([{**base, **row} for row in rows])


@pytest.fixture
def archive(tmp_path):
    root = tmp_path / "archive"
    for rel in ["P/a.wav", "P/A.WAV", "P/sub/b.wav", "Q/c.wav", "loose.wav"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    return root


def _sample_index():
    return _index([
        {"path": "P/a.wav", "pack": "P", "sha256": "1"},
        {"path": "P/A.WAV", "pack": "P", "sha256": "2"},  # same name but for case: a stable suffix
        {"path": "P/sub/b.wav", "pack": "P", "sha256": "3", "predicted_label": "snare", "confidence": 0.3},
        {"path": "Q/c.wav", "pack": "Q", "sha256": "1"},  # same bytes as P/a.wav, in a later pack
        {"path": "loose.wav", "pack": ROOT_PACK, "sha256": "4", "duration": 12.0},
        {"path": "P/broken.wav", "pack": "P", "status": "error", "error": "empty file (0 bytes)"},
    ])


def test_plan_accounts_for_every_file_once(archive):
    entries, ledger = plan(_sample_index(), archive, SortingRules(confidence_threshold=0.5))
    assert len(ledger) == 6 and ledger["path"].is_unique
    status = dict(zip(ledger["path"], ledger["status"], strict=True))
    assert status == {"P/a.wav": "placed", "P/A.WAV": "placed", "P/sub/b.wav": "placed", "Q/c.wav": "duplicate",
                      "loose.wav": "placed", "P/broken.wav": "error"}
    targets = dict(zip(ledger["path"], ledger["target"], strict=True))
    assert targets["P/A.WAV"] == "kick/P/A.WAV" and targets["P/a.wav"] == "kick/P/a (2).wav"
    assert targets["P/sub/b.wav"] == "unsorted/P/sub/b.wav"  # under the threshold
    assert targets["loose.wav"] == f"unsorted/{ROOT_PACK}/loose.wav"  # too long for a one-shot
    assert ledger.set_index("path").loc["Q/c.wav", "duplicate_of"] == "P/a.wav"
    assert len(entries) == 4


@pytest.mark.parametrize("mode", ["symlink", "hardlink", "copy"])
def test_apply_is_idempotent_and_moves_only_what_changed(archive, tmp_path, mode):
    rebuilt = tmp_path / "rebuilt"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in archive.rglob("*") if p.is_file()}
    entries, _ = plan(_sample_index(), archive)
    assert apply(entries, rebuilt, mode)["created"] == 4
    placed = sorted(p.relative_to(rebuilt).as_posix() for p in rebuilt.rglob("*") if not p.name.startswith(".")
                    and (p.is_file() or p.is_symlink()))
    assert placed == sorted(e.target for e in entries)
    assert (rebuilt / "kick/P/A.WAV").read_bytes() == b"P/A.WAV"
    assert apply(entries, rebuilt, mode) == {"created": 0, "unchanged": 4, "removed": 0, "blocked": 0}

    (rebuilt / "kick/P/my notes.txt").write_text("mine")  # not the pipeline's: never touched
    changed = _sample_index()
    changed.loc[changed["path"] == "P/A.WAV", "predicted_label"] = "snare"
    entries, _ = plan(changed, archive)
    counts = apply(entries, rebuilt, mode)
    assert counts == {"created": 2, "unchanged": 2, "removed": 2, "blocked": 0}  # A.WAV moved, a.wav lost its suffix
    assert (rebuilt / "snare/P/A.WAV").exists() and not os.path.lexists(rebuilt / "kick/P/A.WAV")
    assert (rebuilt / "kick/P/my notes.txt").read_text() == "mine"
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in archive.rglob("*") if p.is_file()}
    assert after == before


def test_a_file_the_pipeline_did_not_make_is_never_overwritten(archive, tmp_path):
    rebuilt = tmp_path / "rebuilt"
    (rebuilt / "kick/Q").mkdir(parents=True)
    entries, _ = plan(_index([{"path": "P/sub/b.wav", "pack": "Q", "sha256": "3"}]), archive)
    (rebuilt / entries[0].target).parent.mkdir(parents=True, exist_ok=True)
    (rebuilt / entries[0].target).write_text("user's own file")
    assert apply(entries, rebuilt)["blocked"] == 1
    assert (rebuilt / entries[0].target).read_text() == "user's own file"


def test_names_never_escape_the_rebuilt_folder(archive):
    index = _index([{"path": "P/../../etc/passwd", "pack": "P", "sha256": "9"}])
    entries, _ = plan(index, archive)
    assert ".." not in entries[0].target.split("/")


def test_a_failed_rebuild_says_why_and_the_next_run_finishes(archive, tmp_path):
    rebuilt = tmp_path / "rebuilt"
    entries, _ = plan(_sample_index(), archive)
    rebuilt.mkdir()
    (rebuilt / "unsorted").write_text("a file where a folder must go")
    with pytest.raises(RebuildError, match="could not rebuild"):
        apply(entries, rebuilt)
    (rebuilt / "unsorted").unlink()
    counts = apply(entries, rebuilt)
    assert counts["created"] + counts["unchanged"] == 4 and counts["blocked"] == 0


def test_unknown_mode_is_refused(archive, tmp_path):
    with pytest.raises(ValueError, match="unknown link mode"):
        apply([], tmp_path / "rebuilt", "move")


@pytest.fixture
def small_disk(tmp_path):
    """A real 256 KB file system (tmpfs), for a real full disk and a real cross-device link."""
    mount = tmp_path / "small disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small file system here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_stops_with_a_clear_message_and_the_next_run_finishes(tmp_path, small_disk):
    sources = []
    for i in range(6):
        sources.append(tmp_path / f"hit {i}.wav")
        sources[-1].write_bytes(os.urandom(100_000))
    entries = [Entry(f"kick/P/hit {i}.wav", str(source), str(i)) for i, source in enumerate(sources)]
    rebuilt = small_disk / "rebuilt"
    with pytest.raises(RebuildError, match="hard links cannot cross file systems"):
        apply(entries, rebuilt, "hardlink")
    (small_disk / "something else.bin").write_bytes(os.urandom(120_000))
    with pytest.raises(RebuildError, match="disk holding .* is full"):
        apply(entries, rebuilt, "copy")
    (small_disk / "something else.bin").unlink()  # the user frees some space ...
    counts = apply(entries, rebuilt, "symlink")  # ... and takes the message's advice
    assert counts["created"] + counts["unchanged"] == 6 and counts["blocked"] == 0
    assert sorted(os.readlink(rebuilt / e.target) for e in entries) == sorted(map(str, sources))
