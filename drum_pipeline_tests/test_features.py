import os
import shutil
from dataclasses import replace

import dagster as dg
import librosa
import numpy as np
import pandas as pd
import soundfile as sf

from drum_pipeline.audio.feature_cache import FeatureCache, extract_missing, feature_matrix
from drum_pipeline.audio.features import FeatureParams, analysed_window, compute_features
from drum_pipeline.audio.folders import scan_audio_files
from drum_pipeline.audio.hashing import HashCache
from drum_pipeline.defs.features.assets import (
    audio_statistics,
    mfcc_features,
    spectrogram_features,
)
from drum_pipeline.defs.inputs.assets import sample_library, taxonomy
from drum_pipeline.defs.labels.assets import curated_training_set, label_extraction
from drum_pipeline.defs.resources import DrumPipelineConfig, pipeline_resources
from drum_pipeline.demo.synth import render

PARAMS = FeatureParams()


def _windows(n, seed=0):
    rng = np.random.default_rng(seed)
    names = ["kick", "snare", "hihat_closed", "crash", "tom_low", "clap", "cowbell", "shaker"]
    return np.stack([analysed_window(render(names[i % len(names)], rng, PARAMS.sample_rate), PARAMS) for i in range(n)])


def test_shapes_are_documented_and_fixed():
    features = compute_features(_windows(3), PARAMS)
    assert features["logmel"].shape == (3, 64, 87) == (3, PARAMS.n_mels, PARAMS.n_frames)
    assert features["mfcc"].shape == (3, 20, 87)
    assert features["logmel"].max() == 0.0 and features["logmel"].min() >= -80.0


def test_features_equal_librosa_on_the_same_window():
    window = _windows(2)[1]
    mel = librosa.feature.melspectrogram(y=window, sr=PARAMS.sample_rate, n_fft=PARAMS.n_fft, hop_length=PARAMS.hop_length,
                                         n_mels=PARAMS.n_mels, fmin=PARAMS.fmin, center=True, pad_mode="constant")
    db = librosa.power_to_db(mel, ref=np.max, top_db=PARAMS.top_db)
    ours = compute_features(window[None], PARAMS)
    assert np.abs(ours["logmel"][0] - db).max() < 0.01
    assert np.abs(ours["mfcc"][0] - librosa.feature.mfcc(S=db, n_mfcc=PARAMS.n_mfcc)).max() < 0.01


def test_features_of_a_file_do_not_depend_on_its_batch():
    windows = _windows(40)
    together = compute_features(windows, PARAMS)
    for i in (0, 17, 39):
        alone = compute_features(windows[i : i + 1], PARAMS)
        shuffled = compute_features(np.concatenate([windows[i : i + 1], windows[::-1]]), PARAMS)
        for key in ("logmel", "mfcc", "centroid_hz", "decay_seconds"):
            np.testing.assert_allclose(alone[key][0], together[key][i], atol=1e-3)
            np.testing.assert_allclose(shuffled[key][0], together[key][i], atol=1e-3)


def test_the_window_starts_at_the_onset_and_is_loudness_normalised():
    hit = render("snare", np.random.default_rng(1), PARAMS.sample_rate)
    late = np.concatenate([np.zeros(2000, np.float32), 0.1 * hit])
    np.testing.assert_allclose(analysed_window(late, PARAMS), analysed_window(hit, PARAMS), atol=1e-5)


def _items(root, tmp_path):
    with HashCache(tmp_path / "hashes.sqlite") as hashes:
        return [(hashes.sha256(f.path), f.path) for f in scan_audio_files(root)]


def test_cache_extracts_only_what_changed(small_demo, tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(small_demo / "library" / "TR-808 Collection", lib)
    cache_dir = tmp_path / "cache"
    with FeatureCache(cache_dir, PARAMS) as cache:
        first = extract_missing(_items(lib, tmp_path), cache)
        assert first.extracted == first.requested > 10 and first.failed == 0
        assert extract_missing(_items(lib, tmp_path), cache).extracted == 0

        victim = sorted(lib.iterdir())[0]
        audio, sr = sf.read(victim)
        sf.write(victim, audio * 0.5, sr)  # new content
        os.rename(sorted(lib.iterdir())[1], lib / "renamed.wav")  # same content, new name
        st = sorted(lib.iterdir())[2].stat()
        os.utime(sorted(lib.iterdir())[2], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched only
        again = extract_missing(_items(lib, tmp_path), cache)
        assert (again.extracted, again.cached, again.requested) == (1, first.requested - 1, first.requested)

    with FeatureCache(cache_dir, replace(PARAMS, n_mels=48)) as other:
        changed = extract_missing(_items(lib, tmp_path), other)
        assert changed.extracted == changed.requested == first.requested


def test_undecodable_content_is_cached_as_an_error(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    with FeatureCache(tmp_path / "cache", PARAMS) as cache:
        report = extract_missing(_items(tmp_path, tmp_path), cache)
        assert (report.extracted, report.failed) == (1, 1)
        assert extract_missing(_items(tmp_path, tmp_path), cache).extracted == 0
        [record] = cache.get([_items(tmp_path, tmp_path)[0][0]])
        assert "not a recognised audio format" in record.error and record.mfcc is None


def test_feature_assets_materialize(small_demo, tmp_path):
    config = DrumPipelineConfig(library_dir=str(small_demo / "library"), output_dir=str(tmp_path / "out"))
    assets = [sample_library, taxonomy, label_extraction, curated_training_set, mfcc_features, spectrogram_features,
              audio_statistics]
    result = dg.materialize(assets, resources=pipeline_resources(config),
                            selection=[a.key.to_user_string() for a in assets[2:]])
    assert result.success
    metadata = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    curated = pd.read_parquet(tmp_path / "out/tables/curated_training_set.parquet")
    features = ("mfcc_features", "spectrogram_features")
    # the feature asset that runs first (or audio_statistics) decodes; the others read the cache
    assert min(metadata[name]["extracted"].value for name in features) == 0
    assert max(metadata[name]["cached"].value for name in features) == len(curated)
    picture = metadata["spectrogram_features"]["spectrograms_per_class"].value
    assert picture.startswith("![log-mel spectrograms per class](http://127.0.0.1:") and len(picture) < 1000
    mfcc = pd.read_parquet(tmp_path / "out/tables/mfcc_features.parquet")
    assert list(mfcc["sha256"]) == list(curated["sha256"]) and (mfcc["error"] == "").all()
    assert feature_matrix(mfcc, "mfcc", PARAMS).shape == (len(curated), 20, 87)
    stats = pd.read_parquet(tmp_path / "out/tables/audio_statistics.parquet")
    assert stats["duration"].between(0.05, 6).all() and stats["centroid_hz"].gt(0).all()
    assert (tmp_path / "out/reports/spectrograms_per_class.png").stat().st_size > 1000
