"""The accurate mode: the pretrained embedding (aisfx), its cache, its ensemble member, and a real
Dagster run with it. The embedding's tests skip where aisfx and torch are not installed."""

import json
import shutil

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression

from drum_pipeline.audio.feature_cache import FeatureCache, extract_missing, feature_table
from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.demo.synth import render
from drum_pipeline.models.embedding_member import EmbeddingClassifier

PARAMS = FeatureParams()


def _write_drums(folder, names, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        path = folder / f"{i:02d}_{name}.wav"
        sf.write(path, render(name, rng, 44100), 44100)
        paths.append(path)
    return paths


def test_the_member_answers_as_scikit_learn_does_and_survives_a_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 2, 3], 40)
    x = rng.normal(size=(len(y), 16)) + y[:, None] * 0.8
    member = EmbeddingClassifier().fit(x, y)
    a = member.arrays
    reference = LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000, random_state=7).fit(
        (x - a["mean"]) / a["scale"], y)
    assert np.allclose(member.predict_proba(x), reference.predict_proba((x - a["mean"]) / a["scale"]), atol=1e-5)
    assert list(member.classes_) == [0, 2, 3]
    member.write(tmp_path / "logistic.npz")
    again = EmbeddingClassifier.load(tmp_path / "logistic.npz")
    assert np.array_equal(again.predict_proba(x), member.predict_proba(x))
    assert (again.predict_proba(x).argmax(axis=1) == np.searchsorted([0, 2, 3], y)).mean() > 0.8


def test_embeddings_are_cached_by_content_and_a_corrupt_file_is_left_out(tmp_path):
    pytest.importorskip("aisfx")
    from drum_pipeline.audio.embeddings import EMBEDDING_SIZE, SoundEmbedder, embed_missing, embedded_table

    paths = _write_drums(tmp_path / "pack", ["kick", "snare", "hihat_closed"])
    shutil.copy(paths[0], tmp_path / "pack" / "same kick.wav")  # the same content twice
    (tmp_path / "pack" / "broken.wav").write_bytes(b"RIFF not a wave at all")
    files = sorted((tmp_path / "pack").glob("*.wav"))
    from drum_pipeline.audio.hashing import sha256_file

    table = pd.DataFrame({"path": [f.name for f in files], "sha256": [sha256_file(f) for f in files]})
    embedder = SoundEmbedder()
    with FeatureCache(tmp_path / "cache", PARAMS) as cache:
        extract_missing(((row.sha256, tmp_path / "pack" / row.path) for row in table.itertuples()), cache)
        features = feature_table(table, cache, "logmel")
        out, report = embedded_table(features, tmp_path / "pack", cache)
        assert report["embedded"] == 3 and report["failed"] == 0  # the copy once; the broken file was never decoded
        vectors = np.stack(out.loc[out["error"] == "", "embedding"].to_numpy())
        assert vectors.shape == (4, EMBEDDING_SIZE) and np.isfinite(vectors).all()
        assert np.array_equal(vectors[0], vectors[1]) or len(set(map(bytes, vectors))) == 3
        assert out.loc[out["path"] == "broken.wav", "embedding"].iloc[0].size == 0
        kick, snare = (cache.embeddings([sha256_file(p)])[sha256_file(p)] for p in paths[:2])
        assert not np.allclose(kick, snare)  # different sounds, different embeddings
        assert embed_missing(((sha256_file(p), p) for p in paths), cache, embedder)["embedded"] == 0  # all cached
        # the embedder itself fails on a file it cannot decode: left out, the run goes on
        assert embed_missing([("x" * 64, tmp_path / "pack" / "broken.wav")], cache, embedder)["failed"] == 1


@pytest.mark.slow
def test_an_accurate_run_trains_the_member_deploys_it_and_sorts_the_archive_with_it(trained, small_demo, definitions):
    pytest.importorskip("aisfx")
    from drum_pipeline.archive.index import list_packs, pack_fingerprints
    from drum_pipeline.cli.summary import format_summary, run_summary
    from drum_pipeline.defs.automation.freshness import ACCURATE_MODE_ASSETS, accurate_mode_changed, packs_to_classify
    from drum_pipeline.defs.resources import DrumPipelineConfig, pipeline_resources
    from drum_pipeline.defs.shared import archive_packs

    config, output, _, instance = trained
    copied = output.parent / "accurate"
    shutil.copytree(output, copied, symlinks=True)
    accurate = DrumPipelineConfig(**{**config.model_dump(), "output_dir": str(copied), "accurate": True})
    assets = list(definitions.assets)
    trained_again = ["spectrogram_features", "base_corpus", "embedding_model", "evaluation_report",
                     "sorting_thresholds", "deployed_models", "inference_bundle"]
    result = dg.materialize(assets, resources=pipeline_resources(accurate), selection=trained_again, instance=instance)
    assert result.success
    # `drum-pipeline run` retrains what the mode changes when it is switched, and only then
    assert accurate_mode_changed(instance, True) == []
    assert {key.to_user_string() for key in accurate_mode_changed(instance, False)} == set(ACCURATE_MODE_ASSETS)
    report = json.loads((copied / "reports/evaluation.json").read_text())
    assert report["results"]["embedding"]["macro_f1"] > 0.5  # six classes: chance is about 0.17
    bundle = copied / "models/bundle"
    assert (bundle / "embedding_model/logistic.npz").exists()

    pack = list_packs(small_demo / "archive")[0]
    instance.add_dynamic_partitions(archive_packs.name, [pack])
    assert dg.materialize(assets, resources=pipeline_resources(accurate), selection=["archive_index"],
                          instance=instance, partition_key=pack).success
    index = pd.read_parquet(next((copied / "tables/archive_index").glob("*.parquet")))
    assert not index["error"].str.contains("embedded").any()
    cost = json.loads((copied / "reports/embedding_cost.json").read_text())
    assert cost["files"] == int((index["status"] == "ok").sum()) and cost["seconds"] > 0
    settings = accurate.settings()
    assert "accurate mode: the pretrained embedding took" in format_summary(run_summary(settings))

    # the accurate mode turned off: the member leaves the deployed models and the bundle
    plain = DrumPipelineConfig(**{**accurate.model_dump(), "accurate": False})
    assert dg.materialize(assets, resources=pipeline_resources(plain), selection=trained_again,
                          instance=instance).success
    assert not (bundle / "embedding_model").exists() and not (copied / "models/deployed/embedding_model").exists()
    # another bundle: the pack is classified again (its fingerprint and the archive are unchanged)
    fingerprints = pack_fingerprints(small_demo / "archive")
    assert packs_to_classify(definitions, instance, {pack: fingerprints[pack]}, copied) == [pack]
