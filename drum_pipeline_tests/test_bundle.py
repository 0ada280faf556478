"""The inference bundle: LiteRT models equal to the Keras ones and trees equal to scikit-learn's,
loaded fast, classification without TensorFlow or scikit-learn, and re-exported when the
deployed models change."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from drum_pipeline.archive.index import build_reference, load_classifier
from drum_pipeline.audio.feature_cache import feature_matrix
from drum_pipeline.audio.features import FeatureParams, mfcc_from_logmel
from drum_pipeline.cli.commands import current_bundle
from drum_pipeline.config.settings import Settings
from drum_pipeline.labels.taxonomy import load_taxonomy
from drum_pipeline.models.bundle import load_bundle
from drum_pipeline.models.descriptors import ExportedTrees
from drum_pipeline.models.inference import load_model_set
from drum_pipeline.models.rejection import drum_scores
from drum_pipeline.models.store import DEPLOYED, load_model, model_dir, update_meta

TOLERANCE = 1e-4  # absolute, on probabilities and on embeddings (float32 both; only the kernels differ)


def _settings(config, output) -> Settings:
    return Settings.resolve(config.library_dir, config.archive_dir, str(output))


def test_the_bundle_gives_the_keras_models_probabilities_and_embeddings(trained):
    config, output, _, _ = trained
    settings = _settings(config, output)
    classes, params = list(load_taxonomy(settings.taxonomy_path).classes), FeatureParams()
    lite, lite_reference = load_bundle(settings.layout.bundle_dir, classes, params)  # written by the main job
    keras_models = load_model_set(settings.layout.models_dir, classes, params, stage=DEPLOYED)
    table = settings.layout.read_table("spectrogram_features")
    table = table[table["error"] == ""]
    logmel = feature_matrix(table, "logmel", params)
    mfcc = mfcc_from_logmel(logmel, params.n_mfcc)
    assert len(logmel) > 100  # more than one fixed-size batch, and a padded last one
    duration = table["duration"].to_numpy(np.float32)
    expected, got = keras_models.predict(mfcc, logmel, duration), lite.predict(mfcc, logmel, duration)
    assert isinstance(lite.descriptor_model, ExportedTrees)  # the descriptor classifier travels as arrays
    for key in ("model1", "model2", "descriptors", "ensemble"):
        np.testing.assert_allclose(got[key], expected[key], atol=TOLERANCE, rtol=0, err_msg=key)
    np.testing.assert_allclose(got["descriptors"], expected["descriptors"], atol=1e-12, rtol=0)  # the same trees
    detector, _ = load_model(model_dir(settings.layout.models_dir, "drum_detector", DEPLOYED), classes, params)
    exported, _ = load_model(settings.layout.bundle_dir / "drum_detector", classes, params)
    assert isinstance(exported, ExportedTrees)
    np.testing.assert_allclose(drum_scores(exported, logmel, duration, params),
                               drum_scores(detector, logmel, duration, params), atol=1e-6, rtol=0)
    np.testing.assert_allclose(lite.embed(logmel), keras_models.embed(logmel), atol=TOLERANCE, rtol=0)
    assert lite.temperatures == keras_models.temperatures and lite.classes == classes
    reference = build_reference(keras_models, settings.layout.read_table("spectrogram_features"), params)
    np.testing.assert_allclose(lite_reference.embeddings, reference.embeddings, atol=TOLERANCE)
    assert list(lite_reference.fine_labels) == list(reference.fine_labels)
    assert lite.predict(mfcc[:0], logmel[:0], duration[:0])["ensemble"].shape == (0, len(classes))
    with pytest.raises(ValueError, match="durations"):  # the descriptor classifier reads them
        lite.predict(mfcc, logmel)


def test_classify_runs_on_the_bundle_without_importing_tensorflow_or_scikit_learn(trained, small_demo, tmp_path):
    config, output, _, _ = trained
    bundle = tmp_path / "bundle"
    shutil.copytree(Path(output) / "models" / "bundle", bundle)  # a bundle alone, as on another machine
    pack = small_demo / "archive" / "Linn LM-1"
    code = ("import json, sys; from drum_pipeline.cli import main; code = main(sys.argv[1:]); "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'sklearn'))), "
            "file=sys.stderr); sys.exit(code)")
    environment = dict(os.environ, DRUM_OUTPUT_DIR=str(tmp_path / "empty_output"))
    result = subprocess.run([sys.executable, "-c", code, "classify", str(pack), "--json", "--bundle", str(bundle)],
                            capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == 0, result.stderr[-1500:]
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []
    rows = json.loads(result.stdout)
    assert len(rows) == len(list(pack.rglob("*.wav"))) and all(row["status"] == "ok" for row in rows)
    without_tensorflow = "import sys; sys.modules.update(tensorflow=None, keras=None, sklearn=None); " + code  # imports fail
    result = subprocess.run([sys.executable, "-c", without_tensorflow, "classify", str(pack), "--json", "--bundle",
                             str(bundle)], capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == 0 and json.loads(result.stdout) == rows, result.stderr[-1500:]
    missing = subprocess.run([sys.executable, "-m", "drum_pipeline.cli", "classify", str(pack), "--bundle",
                              str(tmp_path / "nowhere")], capture_output=True, text=True, env=environment, timeout=300)
    assert missing.returncode == 2 and "drum-pipeline export" in missing.stderr and "Traceback" not in missing.stderr


def test_a_bundle_older_than_the_deployed_models_is_exported_again(trained, tmp_path, capsys):
    config, output, _, _ = trained
    copy = tmp_path / "output"
    for part in ("models", "tables/spectrogram_features.parquet", "tables/sorting_thresholds.json"):
        (copy / part).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (Path(output) / part).is_dir() else shutil.copy2)(Path(output) / part, copy / part)
    settings = _settings(config, copy)
    manifest = settings.layout.bundle_dir / "bundle.json"
    before = json.loads(manifest.read_text())
    taxonomy = load_taxonomy(settings.taxonomy_path)
    assert current_bundle(settings) == settings.layout.bundle_dir  # current: used as it is
    assert json.loads(manifest.read_text()) == before and "exporting" not in capsys.readouterr().err
    update_meta(settings.layout.models_dir, "model1", DEPLOYED, temperature=2.5)  # as a new deployment would
    classifier = load_classifier(current_bundle(settings), taxonomy)
    assert "exporting" in capsys.readouterr().err
    assert classifier.models.temperatures["model1"] == 2.5
    assert json.loads(manifest.read_text())["sources"] != before["sources"]
