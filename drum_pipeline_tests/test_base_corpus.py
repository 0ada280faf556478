"""The base corpus of real sounds shipped with the package: what it holds, how it joins training,
and that the benchmark's folds never train on their held-out source."""

import importlib.util
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.config.settings import Settings
from drum_pipeline.defs.models.assets import base_corpus, base_weight, training_splits
from drum_pipeline.defs.resources import DrumPipelineConfig, pipeline_resources
from drum_pipeline.real_sounds.base_corpus import (
    BASE_CORPUS_PATH,
    BaseCorpusError,
    load_base_corpus,
    read_licences,
    write_table,
)
from drum_pipeline.real_sounds.corpus import DEFAULT_TRUTH_PATH, read_truth, truth_table

CLASSES = ["kick", "snare", "hihat", "tom", "cymbal", "percussion"]
PARAMS = FeatureParams()


@pytest.fixture(scope="module")
def shipped() -> pd.DataFrame:
    return load_base_corpus(PARAMS)


def test_the_shipped_corpus_matches_the_features_the_truth_and_its_size_limit(shipped):
    assert BASE_CORPUS_PATH.stat().st_size <= 30e6
    truth = truth_table(read_truth(DEFAULT_TRUTH_PATH)).set_index("sha256")
    assert set(shipped["sha256"]) <= set(truth.index)  # every sound is a reviewed corpus file
    assert (shipped["label"] == truth.loc[shipped["sha256"], "label"].to_numpy()).all()
    assert set(shipped["label"]) == set(CLASSES) | {"non_drum"}
    licences = read_licences()
    assert set(shipped["source"]) == set(licences) and all(licences.values())
    assert {"train", "val"} == set(shipped["split"])
    logmel = np.stack(shipped["logmel"])
    assert logmel.shape[1] == PARAMS.n_mels * PARAMS.n_frames
    assert logmel.max() <= 0.0 and logmel.min() >= -PARAMS.top_db - 0.1  # dB under the window's loudest bin


def test_sources_are_left_out_by_name_and_other_features_are_refused(shipped, tmp_path):
    source = shipped["source"].iloc[0]
    without = load_base_corpus(PARAMS, (source,))
    assert len(without) == (shipped["source"] != source).sum() and source not in set(without["source"])
    with pytest.raises(BaseCorpusError, match="names no source"):
        load_base_corpus(PARAMS, ("no-such-source",))
    other = FeatureParams(n_mels=32)
    write_table(pd.read_parquet(BASE_CORPUS_PATH).head(3), other, {source: "x"}, tmp_path / "other.parquet")
    with pytest.raises(BaseCorpusError, match="other parameters"):
        load_base_corpus(PARAMS, path=tmp_path / "other.parquet")
    with pytest.raises(BaseCorpusError, match="DRUM_BASE_CORPUS=0"):
        load_base_corpus(PARAMS, path=tmp_path / "missing.parquet")


def _spectrograms(labels: list[str], splits: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"label": labels, "fine_label": labels, "split": splits, "error": "",
                         "duration": 0.5, "logmel": [rng.uniform(-80, 0, PARAMS.n_mels * PARAMS.n_frames)
                                                     for _ in labels]})


def test_corpus_drums_join_training_and_validation_and_never_outweigh_the_library(shipped):
    library = _spectrograms(CLASSES * 2, ["train"] * 6 + ["test"] * 6)
    corpus_drums = shipped[shipped["kind"] == "drum"]
    splits = training_splits(library, None, CLASSES, PARAMS, shipped)
    in_train = int((corpus_drums["split"] == "train").sum())
    assert len(splits["train"].y) == 6 + in_train
    assert len(splits["val"].y) == int((corpus_drums["split"] == "val").sum())
    assert len(splits["test"].y) == 6  # the evaluation's test split is the library's alone
    weight = splits["train"].sample_weight
    assert weight[:6].sum() >= weight[6:].sum() - 1e-3  # the user's library weighs at least as much
    assert base_weight(6, in_train) == pytest.approx(6 / in_train)
    assert base_weight(500, 100) == 1.0  # a large library: every corpus drum counts fully
    plain = training_splits(library, None, CLASSES, PARAMS)
    assert len(plain["train"].y) == 6 and plain["train"].weight is None


def test_the_base_corpus_asset_leaves_a_sound_the_library_holds_to_the_library(shipped, tmp_path):
    held = shipped["sha256"].iloc[0]

    @dg.asset(name="label_extraction")
    def library_labels() -> pd.DataFrame:
        return pd.DataFrame({"sha256": [held, ""]})

    def run(**settings) -> pd.DataFrame:
        config = DrumPipelineConfig(output_dir=str(tmp_path / "out"), **settings)
        result = dg.materialize([library_labels, base_corpus], resources=pipeline_resources(config))
        assert result.success
        return result.output_for_node("base_corpus")

    table = run()
    assert len(table) == len(shipped) - 1 and held not in set(table["sha256"])
    assert len(run(base_corpus=False)) == 0
    assert set(run(base_corpus_exclude="lmms, sonic-pi")["source"]) == set(shipped["source"]) - {"lmms", "sonic-pi"}


def test_the_base_corpus_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DRUM_BASE_CORPUS", "0")
    monkeypatch.setenv("DRUM_BASE_CORPUS_EXCLUDE", "fluid, lmms,")
    settings = Settings.resolve()
    assert settings.base_corpus is False and settings.base_corpus_exclude == ("fluid", "lmms")
    monkeypatch.setenv("DRUM_BASE_CORPUS", "maybe")
    with pytest.raises(ValueError, match="DRUM_BASE_CORPUS"):
        Settings.resolve()


def _bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "real_sounds.py"
    spec = importlib.util.spec_from_file_location("real_sounds_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_benchmark_fold_trains_on_its_held_out_source(tmp_path):
    bench = _bench()
    truth = truth_table(read_truth(DEFAULT_TRUTH_PATH))
    for held_out in sorted(set(truth["source"])):
        library = bench.library_paths(truth, held_out)
        assert library and not set(library) & set(truth.loc[truth["source"] == held_out, "path"])
        env = bench.fold_environment(held_out, tmp_path, None)
        excluded = Settings.build(base_corpus_exclude=env["DRUM_BASE_CORPUS_EXCLUDE"]).base_corpus_exclude
        assert excluded == (held_out,)
        assert held_out not in set(load_base_corpus(PARAMS, excluded)["source"])


def test_the_benchmark_names_every_file_as_an_audio_file_of_its_own():
    truth = truth_table(read_truth(DEFAULT_TRUTH_PATH))
    named = _bench().own_names(truth)
    assert len(set(named.values())) == len(truth)
    assert all(Path(name).suffix == Path(path).suffix for path, name in named.items())  # stk's .raw waves are WAV
    assert named[truth.loc[truth["source"] == "stk", "path"].iloc[0]].startswith("stk/rawwaves/")


def test_the_corpus_drums_that_calibrate_the_detector_are_scored_without_their_source(shipped, tmp_path):
    from drum_pipeline.defs.models.assets import detector_negatives, fit_drum_detector, out_of_source_drum_scores
    from drum_pipeline.models.rejection import drum_scores

    settings = Settings.build(library_dir=str(tmp_path), output_dir=str(tmp_path / "out"), synthetic_per_label=8)
    base = shipped[shipped["source"].isin(["exadrums", "stk", "csound"])]
    library = _spectrograms(CLASSES * 2, ["train"] * 6 + ["test"] * 6)
    no_files = pd.DataFrame(columns=["path", "sha256", "status"])
    scores = out_of_source_drum_scores(settings, library, None, no_files, base, CLASSES, PARAMS)
    val = training_splits(library, None, CLASSES, PARAMS, base)["val"]
    held = base[(base["kind"] == "drum") & (base["split"] == "val")]
    assert len(scores) == len(val.y) == len(held) == 6
    stk = (held["source"] == "stk").to_numpy()
    synthesized = detector_negatives(settings, PARAMS)
    without_stk = fit_drum_detector(settings, library, None, no_files, base[base["source"] != "stk"], synthesized,
                                    CLASSES, PARAMS)[0]
    assert np.allclose(scores[stk], drum_scores(without_stk, val.logmel[stk], val.duration[stk], PARAMS))
    heard_all = fit_drum_detector(settings, library, None, no_files, base, synthesized, CLASSES, PARAMS)[0]
    assert not np.allclose(scores, drum_scores(heard_all, val.logmel, val.duration, PARAMS))
