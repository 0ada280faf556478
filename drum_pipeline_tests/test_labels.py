import pandas as pd
import pytest

from drum_pipeline.audio.folders import scan_audio_files
from drum_pipeline.audio.hashing import HashCache
from drum_pipeline.demo.data import read_manifest
from drum_pipeline.labels.names import decide_label, extract_labels
from drum_pipeline.labels.taxonomy import load_taxonomy


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


@pytest.mark.parametrize(
    "relpath, status, fine, source",
    [
        ("Pack/Kicks/VEH Kick 012.wav", "labelled", "kick", "file+folder"),
        ("Pack/Kicks/s00421.wav", "labelled", "kick", "folder"),
        ("Kicks/VEH Kick 012.wav", "labelled", "kick", "file+folder"),
        ("Pack/one shots/BD_03.aif", "labelled", "kick", "file"),
        ("Pack/Kick/snare_03.wav", "ambiguous", "", ""),  # the folder says kick, the name says snare
        ("Pack/Floor Tom/Tom 3.wav", "labelled", "tom_low", "file+folder"),  # the folder is finer
        ("Acoustic Cymbals Pro/Hat Closed 02.flac", "labelled", "hihat_closed", "file+folder"),  # hats sit with cymbals
        ("Pack/Snares/Bank B/hit 7.wav", "labelled", "snare", "folder"),  # nearest informative folder
        ("Pack/Loops/Kick 01.wav", "non_drum", "", ""),
        ("Pack/Kicks/Kick Loop 120bpm.wav", "non_drum", "", ""),
        ("Downloads/untitled/Audio 12.wav", "unlabelled", "", ""),
        ("Pack/Kick & Snare/hit 1.wav", "ambiguous", "", ""),
        ("Pack/Kick & Snare/Kick 1.wav", "labelled", "kick", "file"),  # the name settles the folder's doubt
        ("lmms/drums/bassdrum01.ogg", "labelled", "kick", "file"),  # one word, as LMMS names its samples
        ("lmms/drums/clav01.ogg", "labelled", "clave", "file"),
        ("lmms/drums/wood01.ogg", "labelled", "woodblock", "file"),
        ("lmms/basses/bass01.ogg", "non_drum", "", ""),  # a bass is still no drum
        ("Pack/Wood Snare 2.wav", "ambiguous", "", ""),  # two classes named: never a guess
    ],
)
def test_folder_and_file_name_rules(taxonomy, relpath, status, fine, source):
    decision = decide_label(taxonomy, relpath)
    assert (decision.status, decision.fine_label, decision.source) == (status, fine, source), decision
    assert decision.rule  # always says why
    if status == "labelled":
        assert decision.label == taxonomy.fine_to_class[fine]


def test_conflicts_name_both_sides(taxonomy):
    decision = decide_label(taxonomy, "Pack/Kick/snare_03.wav")
    assert "folder 'Kick' says kick" in decision.rule and "says snare" in decision.rule


def test_demo_library_is_labelled_and_never_wrong(small_demo, taxonomy, tmp_path):
    truth = {row["relpath"]: row for row in read_manifest(small_demo / "library")}
    with HashCache(tmp_path / "h.sqlite") as hashes:
        table = extract_labels(scan_audio_files(small_demo / "library"), taxonomy, hashes)
    assert set(table["path"]) == set(truth)
    table["truth"] = table["path"].map(lambda p: truth[p]["fine_label"])
    table["kind"] = table["path"].map(lambda p: truth[p]["kind"])
    drums = table[table["kind"] == "drum"]
    labelled = drums[drums["status"] == "labelled"]
    assert len(labelled) >= 0.95 * len(drums)
    assert (labelled["fine_label"] == labelled["truth"]).all()
    assert (table.loc[table["kind"] != "drum", "status"] == "non_drum").all()
    assert table["sha256"].str.len().eq(64).all()


def test_unreadable_file_keeps_its_row(taxonomy, tmp_path):
    (tmp_path / "Kick 1.wav").write_bytes(b"x")
    (tmp_path / "Kick 1.wav").chmod(0)
    files = scan_audio_files(tmp_path)
    with HashCache(tmp_path / "h.sqlite") as hashes:
        table = extract_labels(files, taxonomy, hashes)
    (tmp_path / "Kick 1.wav").chmod(0o644)
    assert len(table) == 1 and table.loc[0, "fine_label"] == "kick"
    if table.loc[0, "sha256"] == "":  # root can read anything
        assert "cannot read" in table.loc[0, "error"]
    assert isinstance(table, pd.DataFrame)
