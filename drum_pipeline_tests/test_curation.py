import shutil

import dagster as dg
import numpy as np
import pandas as pd
import soundfile as sf

from drum_pipeline.audio.folders import scan_audio_files
from drum_pipeline.audio.hashing import HashCache
from drum_pipeline.defs.inputs.assets import sample_library, taxonomy
from drum_pipeline.defs.labels.assets import curated_training_set, label_extraction
from drum_pipeline.defs.resources import DrumPipelineConfig, pipeline_resources
from drum_pipeline.demo.synth import render
from drum_pipeline.labels.curation import curate, group_of, grouped_split
from drum_pipeline.labels.names import extract_labels
from drum_pipeline.labels.taxonomy import load_taxonomy


def _labels(root, tmp_path):
    with HashCache(tmp_path / "hashes.sqlite") as hashes:
        return extract_labels(scan_audio_files(root), load_taxonomy(), hashes)


def test_group_is_pack_and_instrument_folder():
    assert group_of("Pack/Kicks/Hard/k1.wav") == "Pack/Kicks"
    assert group_of("Pack/808 Kick 01.wav") == "Pack"
    assert group_of("loose kick.wav") == "."


def test_strict_rules_reject_with_reasons(tmp_path):
    lib = tmp_path / "lib"
    (lib / "Pack").mkdir(parents=True)
    rng = np.random.default_rng(0)
    sf.write(lib / "Pack/Kick 01.wav", render("kick", rng, 22050), 22050)
    sf.write(lib / "Pack/Kick 02.wav", np.zeros(22050, np.float32), 22050)  # silent
    sf.write(lib / "Pack/Snare 01.wav", 0.5 * render("snare", rng, 22050).repeat(1), 22050)
    sf.write(lib / "Pack/Snare 02.wav", np.tile(render("snare", rng, 22050), 30), 22050)  # 8+ s: not a one-shot
    sf.write(lib / "Pack/Clap 01.wav", np.sign(np.sin(np.arange(22050) * 0.05)).astype(np.float32), 22050)  # square
    shutil.copyfile(lib / "Pack/Kick 01.wav", lib / "Pack/Kick 03.wav")  # same bytes
    (lib / "Pack/Tom 01.wav").write_bytes(b"not audio")
    (lib / "Pack/Hit 01.wav").write_bytes(b"no label")
    curated, rejects = curate(_labels(lib, tmp_path), lib)
    assert sorted(curated["path"]) == ["Pack/Kick 01.wav", "Pack/Snare 01.wav"]
    reasons = dict(zip(rejects["path"], rejects["reason"], strict=True))
    assert reasons["Pack/Kick 02.wav"].startswith("silent")
    assert reasons["Pack/Snare 02.wav"].startswith("too long")
    assert reasons["Pack/Clap 01.wav"].startswith("clipped")
    assert reasons["Pack/Kick 03.wav"] == "duplicate of Pack/Kick 01.wav"
    assert reasons["Pack/Tom 01.wav"].startswith("unreadable")
    assert "no drum word" in reasons["Pack/Hit 01.wav"]
    assert len(curated) + len(rejects) == 8  # nothing lost


def test_grouped_split_keeps_groups_and_hashes_apart_and_is_deterministic(small_demo, tmp_path):
    labels = _labels(small_demo / "library", tmp_path)
    curated, _ = curate(labels, small_demo / "library", seed=3)
    again, _ = curate(labels, small_demo / "library", seed=3)
    pd.testing.assert_frame_equal(curated, again)
    assert (curated.groupby("group")["split"].nunique() == 1).all()
    assert (curated.groupby("sha256")["split"].nunique() == 1).all()
    assert set(curated["split"]) == {"train", "val", "test"}
    assert set(curated.loc[curated["split"] == "train", "label"]) == set(curated["label"])
    shares = curated["split"].value_counts(normalize=True)
    assert shares["train"] > 0.5 and shares["test"] > 0.05


def test_grouped_split_with_few_groups_trains_on_everything():
    labels = pd.Series(["kick", "snare", "kick"])
    assert list(grouped_split(labels, pd.Series(["a", "a", "b"]))) == ["train"] * 3


def test_assets_materialize_with_passing_checks(small_demo, tmp_path):
    config = DrumPipelineConfig(library_dir=str(small_demo / "library"), archive_dir=str(small_demo / "archive"),
                                output_dir=str(tmp_path / "out"))
    result = dg.materialize([sample_library, taxonomy, label_extraction, curated_training_set],
                            resources=pipeline_resources(config), selection=["label_extraction", "curated_training_set"])
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"most_drum_files_labelled": True, "no_hash_in_two_splits": True,
                      "no_group_in_two_splits": True, "every_class_in_train": True}
    labels = pd.read_parquet(tmp_path / "out/tables/label_extraction.parquet")
    curated = pd.read_parquet(tmp_path / "out/tables/curated_training_set.parquet")
    assert {"path", "sha256", "fine_label", "label", "rule", "status"} <= set(labels.columns)
    assert {"path", "sha256", "fine_label", "label", "group", "split"} <= set(curated.columns)
    assert len(curated) > 0.9 * (labels["status"] == "labelled").sum()


def test_a_flat_library_is_split_by_instrument():
    from drum_pipeline.labels.curation import instrument_of

    assert instrument_of("kick_soft01.ogg") == instrument_of("kick_soft02.ogg") == "./kick_soft"
    assert instrument_of("Pack/808 Kick 01.wav") == "Pack/808 kick"
    assert instrument_of("kick01.ogg") != instrument_of("snare01.ogg")


def test_grouped_split_prefers_a_test_split_with_more_kinds_of_sound():
    groups = pd.Series(["g0", "g0", "g1", "g2", "g2", "g2", "g3", "g3", "g4", "g5", "g5", "g5"])
    labels = pd.Series(["kick"] * 6 + ["snare"] * 6)
    fine = pd.Series(["kick"] * 3 + ["bd_a", "bd_b", "bd_c"] + ["snare"] * 3 + ["sd_a", "sd_b", "sd_c"])
    split = grouped_split(labels, groups, seed=3, fine_labels=fine)
    assert fine[split == "test"].nunique() == 3  # every choice misses one class; the richest group is tested
    assert set(groups[split == "test"]) in ({"g2"}, {"g5"})


def test_grouped_split_keeps_a_pack_of_half_the_library_in_training():
    classes = ["kick", "snare", "hihat"]
    groups = pd.Series(["big"] * 30 + [f"small{i}" for i in range(6) for _ in classes])
    labels = pd.Series(classes * 10 + classes * 6)
    fine = labels + pd.Series([f"_{i % 2}" for i in range(30)] + [""] * 18)  # the big pack has the most voices
    for seed in range(5):
        split = grouped_split(labels, groups, seed=seed, fine_labels=fine)
        assert set(split[groups == "big"]) == {"train"}
        assert (split == "train").sum() >= len(labels) / 2
        assert {"test", "val"} <= set(split)
