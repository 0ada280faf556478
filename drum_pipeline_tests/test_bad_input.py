"""A corpus of bad and strange input through the archive index and the rebuild: nothing crashes,
nothing is lost, no original changes, nothing is written outside rebuilt/."""

import io
import multiprocessing
import os
import shutil
import struct
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from drum_pipeline.archive.rebuild import Entry, apply
from drum_pipeline.config.layout import write_parquet_atomic
from drum_pipeline.definitions import defs as load_definitions
from drum_pipeline.defs.resources import DrumPipelineConfig, pipeline_resources
from drum_pipeline.defs.shared import archive_packs
from drum_pipeline.demo.synth import render

defs = load_definitions()


def _tone(sr, seconds, channels=1):
    t = np.arange(int(sr * seconds)) / sr
    mono = (0.5 * np.sin(2 * np.pi * 220 * t) * np.exp(-t * 4)).astype(np.float32)
    return mono if channels == 1 else np.stack([mono] * channels, axis=1)


def make_bad_corpus(root, outside):
    """Writes the corpus; returns {relative path: True when it must be an error row}."""
    expect = {}

    def put(rel, raw=None, error=False, **write):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if raw is None:
            sf.write(path, **write)
        else:
            path.write_bytes(raw)
        expect[rel] = error

    kick = render("kick", np.random.default_rng(0), 44100)
    wav = io.BytesIO()
    sf.write(wav, kick, 44100, format="WAV", subtype="PCM_16")
    wav = wav.getvalue()
    flac, ogg = io.BytesIO(), io.BytesIO()
    sf.write(flac, kick, 44100, format="FLAC")
    sf.write(ogg, kick, 44100, format="OGG", subtype="VORBIS")
    put("Broken/zero.wav", b"", error=True)
    put("Broken/truncated.wav", wav[:40], error=True)
    put("Broken/truncated.flac", flac.getvalue()[:300], error=True)
    put("Broken/truncated.ogg", ogg.getvalue()[:200], error=True)
    put("Broken/readme.wav", b"just text\n" * 50, error=True)
    put("Broken/picture.wav", b"\x89PNG\r\n\x1a\n" + bytes(500), error=True)
    bad_fmt = bytearray(wav)
    bad_fmt[22:24] = struct.pack("<H", 0)
    put("Broken/bad fmt.wav", bytes(bad_fmt), error=True)
    for rel, kw in {
        "Formats/8bit.wav": dict(data=_tone(22050, 0.5), samplerate=22050, subtype="PCM_U8"),
        "Formats/24bit.wav": dict(data=_tone(44100, 0.5), samplerate=44100, subtype="PCM_24"),
        "Formats/float.wav": dict(data=_tone(48000, 0.5), samplerate=48000, subtype="FLOAT"),
        "Formats/8k.wav": dict(data=_tone(8000, 0.5), samplerate=8000, subtype="PCM_16"),
        "Formats/192k.wav": dict(data=_tone(192000, 0.5), samplerate=192000, subtype="PCM_24"),
        "Formats/six channels.wav": dict(data=_tone(48000, 0.5, 6), samplerate=48000, subtype="PCM_16"),
        "Formats/twenty minutes.flac": dict(data=np.tile(_tone(8000, 1.0), 1200), samplerate=8000, format="FLAC"),
        "Signals/silence.wav": dict(data=np.zeros(22050, np.float32), samplerate=22050),
        "Signals/forty samples.wav": dict(data=kick[:40], samplerate=44100, subtype="PCM_16"),
        "Names/..wav": dict(data=_tone(22050, 0.3), samplerate=22050, format="WAV"),
        "Names/._x.wav": dict(data=_tone(22050, 0.3), samplerate=22050, format="WAV"),
        "Signals/dc offset.wav": dict(data=_tone(22050, 0.5) * 0.3 + 0.5, samplerate=22050),
        "Signals/clipped noise.wav": dict(data=np.clip(np.random.default_rng(1).normal(0, 3, 22050), -1, 1),
                                          samplerate=22050),
        "Names/with spaces and ünïcödé 🥁.wav": dict(data=_tone(22050, 0.3), samplerate=22050),
        "Names/-leading dash.wav": dict(data=_tone(22050, 0.3), samplerate=22050),
        "Names/UPPER.WAV": dict(data=_tone(22050, 0.3), samplerate=22050),
        "Names/" + "long " * 40 + ".wav": dict(data=_tone(22050, 0.3), samplerate=22050),
        "Kicks/actually a snare.wav": dict(data=render("snare", np.random.default_rng(2), 44100), samplerate=44100),
    }.items():
        put(rel, **kw)
    for i in range(20):
        put(f"Copies/same bytes {i:02d}.wav", wav)
    (root / "Links").mkdir()
    os.symlink(root / "Formats/24bit.wav", root / "Links/inside.wav")
    expect["Links/inside.wav"] = False
    (outside / "secret.wav").write_bytes(wav)
    os.symlink(outside / "secret.wav", root / "Links/outside.wav")
    expect["Links/outside.wav"] = True
    os.symlink(root / "Links/loop b.wav", root / "Links/loop a.wav")
    os.symlink(root / "Links/loop a.wav", root / "Links/loop b.wav")
    expect["Links/loop a.wav"] = expect["Links/loop b.wav"] = True
    os.symlink(root / "Names", root / "Links/folder link")  # not followed: no file seen twice
    os.symlink(root / "missing.wav", root / "Links/dangling.wav")
    expect["Links/dangling.wav"] = True
    unreadable = root / "Broken/no permission.wav"
    unreadable.write_bytes(wav)
    unreadable.chmod(0)
    expect["Broken/no permission.wav"] = os.geteuid() != 0  # root reads it anyway
    return expect


def _originals(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path) and os.access(path, os.R_OK):
                out[path] = (Path(path).read_bytes(), os.stat(path).st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def bad_run(trained, tmp_path_factory):
    config, _, _, _ = trained
    base = tmp_path_factory.mktemp("bad")
    (base / "archive").mkdir()
    (base / "outside").mkdir()
    expect = make_bad_corpus(base / "archive", base / "outside")
    before = _originals(base / "archive")
    shutil.copytree(config.output_dir, base / "out", symlinks=True)
    own = DrumPipelineConfig(**{**config.model_dump(), "archive_dir": str(base / "archive"),
                                "output_dir": str(base / "out")})
    instance = dg.DagsterInstance.ephemeral()
    packs = ["Broken", "Copies", "Formats", "Kicks", "Links", "Names", "Signals"]
    instance.add_dynamic_partitions(archive_packs.name, packs)
    for pack in packs:
        assert dg.materialize(list(defs.assets), selection=["archive_index"], partition_key=pack,
                              resources=pipeline_resources(own), instance=instance).success, pack
    assert dg.materialize(list(defs.assets), selection=["rebuilt_archive"], resources=pipeline_resources(own),
                          instance=instance).success
    return base, expect, before


def test_every_bad_file_is_one_row_and_errors_say_why_in_one_line(bad_run):
    base, expect, _ = bad_run
    index = pd.read_parquet(base / "out/tables/archive_index")
    assert sorted(index["path"]) == sorted(expect)  # nothing lost, nothing seen twice
    status = dict(zip(index["path"], index["status"], strict=True))
    for path, must_fail in expect.items():
        assert (status[path] == "error") == must_fail, (path, status[path])
    errors = index[index["status"] == "error"]
    assert errors["error"].str.len().gt(0).all() and not errors["error"].str.contains("\n").any()
    assert (index.loc[index["path"].str.startswith("Copies/"), "status"] == "duplicate").sum() == 19
    row = index.set_index("path")
    assert row.loc["Names/..wav", "status"] == row.loc["Names/._x.wav", "status"] == "skipped"
    assert row.loc["Names/..wav", "reason"].startswith("hidden file")
    for path, reason in {"Signals/forty samples.wav": "too short", "Signals/silence.wav": "silent"}.items():
        assert (row.loc[path, "status"], row.loc[path, "label"], row.loc[path, "reason"]) == ("ok", "unsorted", reason)
    ledger = pd.read_parquet(base / "out/tables/rebuilt_archive.parquet").set_index("path")
    assert sorted(ledger.index) == sorted(expect)
    assert ledger.loc["Names/._x.wav", "status"] == "skipped" and ledger.loc["Signals/silence.wav", "reason"] == "silent"
    long_file = index[index["path"] == "Formats/twenty minutes.flac"].iloc[0]
    assert long_file["duration"] == pytest.approx(1200, rel=0.01) and long_file["label"] == "unsorted"


def test_originals_unchanged_and_nothing_written_outside_rebuilt(bad_run):
    base, _, before = bad_run
    assert _originals(base / "archive") == before
    assert sorted(p.name for p in (base / "outside").iterdir()) == ["secret.wav"]
    ledger = pd.read_parquet(base / "out/tables/rebuilt_archive.parquet")
    rebuilt = (base / "out/rebuilt").resolve()
    for target in ledger.loc[ledger["status"] == "placed", "target"]:
        assert os.path.normpath(rebuilt / target).startswith(str(rebuilt) + os.sep)
        assert os.path.lexists(rebuilt / target)
        assert ".." not in target.split("/")


def test_an_interrupted_table_write_leaves_the_previous_version(tmp_path):
    path = tmp_path / "table.parquet"
    write_parquet_atomic(pd.DataFrame({"a": [1, 2]}), path)
    with pytest.raises(ValueError):
        write_parquet_atomic(pd.DataFrame({"a": [object()]}), path)  # fails half-way through writing
    assert pd.read_parquet(path)["a"].tolist() == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.parquet"]  # no temporary left behind


def _rebuild_many(root, sources, rounds):
    for i in range(rounds):
        entries = [Entry(f"kick/P/{j}.wav", str(source), str(j)) for j, source in enumerate(sources)
                   if (i + j) % 3]
        apply(entries, root)


def test_two_processes_rebuilding_at_once_leave_a_consistent_tree(tmp_path):
    sources = []
    for j in range(30):
        sources.append(tmp_path / f"src{j}.wav")
        sources[-1].write_bytes(b"x" * j)
    root = tmp_path / "rebuilt"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_rebuild_many, args=(root, sources, 15)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    final = [Entry(f"kick/P/{j}.wav", str(source), str(j)) for j, source in enumerate(sources)]
    assert apply(final, root)["blocked"] == 0
    links = sorted(p.name for p in (root / "kick/P").iterdir())
    assert links == sorted(f"{j}.wav" for j in range(30))
