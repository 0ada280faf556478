import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.definitions import defs as load_definitions
from drum_pipeline.defs.resources import DrumPipelineConfig, pipeline_resources
from drum_pipeline.models.augment import augment_logmel
from drum_pipeline.models.evaluation import accuracy_interval, macro_f1, macro_f1_drop_bound, voice_recall
from drum_pipeline.models.inference import calibrate, fit_temperature, load_model_set
from drum_pipeline.models.mistakes import FEATURES
from drum_pipeline.models.networks import (
    SplitData,
    baseline_probabilities,
    build_model1,
    mfcc_statistics,
    splits_from_table,
    train_baseline,
)
from drum_pipeline.models.store import (
    DEPLOYED,
    ModelMismatchError,
    load_model,
    model_dir,
    save_model,
)
from drum_pipeline.models.synthetic import EVALUATION_RENDERS_PER_VOICE, EVALUATION_STREAM, synthetic_split

defs = load_definitions()

CLASSES = ["kick", "snare", "hihat", "tom", "cymbal", "percussion"]
PARAMS = FeatureParams()


def test_label_mapping_is_saved_and_checked(tmp_path):
    model = build_model1(PARAMS, len(CLASSES), filters=4)
    folder = save_model(tmp_path, "model1", model, CLASSES, PARAMS, temperature=1.5)
    loaded, mapping = load_model(folder, CLASSES, PARAMS)
    assert mapping["classes"] == CLASSES and mapping["temperature"] == 1.5
    x = np.random.default_rng(0).normal(size=(2, 20, 87, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)

    with pytest.raises(ModelMismatchError, match="trained for classes .* but the taxonomy has"):
        load_model(folder, CLASSES[::-1], PARAMS)
    from dataclasses import replace
    with pytest.raises(ModelMismatchError, match="other feature parameters"):
        load_model(folder, CLASSES, replace(PARAMS, n_mels=32))
    with pytest.raises(ModelMismatchError, match="materialize the models"):
        load_model(tmp_path / "nothing", CLASSES, PARAMS)


def test_models_load_once_per_process(tmp_path):
    folder = save_model(tmp_path, "model1", build_model1(PARAMS, 6, filters=4), CLASSES, PARAMS)
    first, _ = load_model(folder, CLASSES, PARAMS)
    again, _ = load_model(folder, CLASSES, PARAMS)
    fresh, _ = load_model(folder, CLASSES, PARAMS, for_training=True)
    assert first is again and fresh is not first


def test_temperature_softens_overconfident_mistakes():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    predicted = np.where(rng.random(300) < 0.6, y, (y + 1) % 3)  # right 60% of the time, always 99% sure
    probabilities = np.full((300, 3), 0.005)
    probabilities[np.arange(300), predicted] = 0.99
    temperature = fit_temperature(probabilities, y)
    assert temperature > 2
    calibrated = calibrate(probabilities, temperature)
    assert np.allclose(calibrated.sum(axis=1), 1) and 0.4 < calibrated.max(axis=1).mean() < 0.8
    assert (calibrated.argmax(axis=1) == probabilities.argmax(axis=1)).all()


def test_augmentation_changes_spectrograms_within_range():
    logmel = np.full((4, 64, 87), -80.0, np.float32)
    logmel[:, 10:30, 5:40] = np.linspace(0, -60, 35, dtype=np.float32)
    augmented = augment_logmel(logmel, np.random.default_rng(1))
    assert augmented.shape == logmel.shape and augmented.max() == 0.0 and augmented.min() >= -80.0
    assert not np.allclose(augmented, logmel)
    np.testing.assert_array_equal(augmented, augment_logmel(logmel, np.random.default_rng(1)))


def test_evaluation_reports_all_models_and_deploys(trained):
    config, output, result, _ = trained
    report = json.loads((output / "reports/evaluation.json").read_text())
    assert set(report["results"]) == {"baseline", "baseline_synthetic", "model1", "model2", "descriptors", "ensemble"}
    for name, metrics in report["results"].items():
        assert 0 <= metrics["macro_f1"] <= 1 and metrics["n"] == report["context"]["test_files"] > 0
        assert np.array(metrics["confusion"]).sum() == metrics["n"]
        assert (output / f"reports/confusion_{name}.png").stat().st_size > 1000
    markdown = (output / "reports/evaluation.md").read_text()
    assert "| model | macro F1 |" in markdown and all(f"| {name} | " in markdown for name in report["results"])
    metadata = result.asset_materializations_for_node("evaluation_report")[0].metadata
    for key in ("comparison", "accuracy_interval", "f1_kick_snare_hihat", "f1_tom_cymbal_percussion"):
        header = metadata[key].value.splitlines()[0]  # narrow enough for the UI's metadata column
        assert header.startswith("| model |") and header.count("|") <= 5, (key, header)
    picture = metadata["confusion_ensemble"].value  # short Markdown: the UI shows it without a click
    assert len(picture) < 1000 and "/reports/confusion_ensemble.png?v=" in picture
    voices = {row["voice"]: row for row in report["voices"]}
    curated = pd.read_parquet(output / "tables/curated_training_set.parquet")
    assert set(voices) == set(curated.loc[curated["split"] == "test", "fine_label"])
    assert sum(row["files"] for row in voices.values()) == report["context"]["test_files"]
    for name in report["results"]:  # a model's accuracy is its voices' recall weighted by their files
        weighted = sum(row[name] * row["files"] for row in voices.values()) / report["context"]["test_files"]
        assert weighted == pytest.approx(report["results"][name]["accuracy"], abs=0.01)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()
              if e.asset_key.to_user_string() == "evaluation_report"}
    assert checks["model1_macro_f1_above_floor"] and checks["not_worse_than_deployed"]
    models = load_model_set(output / "models", CLASSES, PARAMS, stage=DEPLOYED)
    assert models.temperatures["model1"] > 0
    refit = json.loads((model_dir(output / "models", "descriptor_model", DEPLOYED) / "labels.json").read_text())
    splits = report["context"]
    assert models.descriptor_model is not None  # deployed: refit on every real drum, not the train split alone
    assert splits["base_corpus_train_files"] > 0 and splits["base_corpus_val_files"] > 0
    assert refit["train_files"] == (splits["train_files"] + splits["val_files"] + splits["test_files"]
                                    + splits["base_corpus_train_files"] + splits["base_corpus_val_files"])
    candidate = json.loads((model_dir(output / "models", "descriptor_model") / "labels.json").read_text())
    assert "refit_on" not in candidate  # an evaluation run again scores trees that never saw the test split
    metadata = result.asset_materializations_for_node("evaluation_report")[0].metadata
    assert "/reports/confusion_ensemble.png" in metadata["confusion_ensemble"].value
    for name in ("model1", "model2_classifier", "model2_encoder"):
        assert (model_dir(output / "models", name, DEPLOYED) / "model.keras").exists()


def test_evaluation_also_scores_fresh_renders_of_every_voice(trained):
    from drum_pipeline.demo import synth
    from drum_pipeline.labels.taxonomy import load_taxonomy

    config, output, result, _ = trained
    report = json.loads((output / "reports/evaluation.json").read_text())
    every = report["every_voice"]
    assert set(every["results"]) == set(report["results"])
    voices = pd.DataFrame(every["voices"]).set_index("voice")
    assert set(voices.index) == set(synth.DRUM_VOICES)
    assert voices["files"].eq(EVALUATION_RENDERS_PER_VOICE).all()
    for name, metrics in every["results"].items():
        assert metrics["n"] == EVALUATION_RENDERS_PER_VOICE * len(voices)
        assert voices[name].mean() == pytest.approx(metrics["accuracy"], abs=0.01)  # every voice counts the same
        low, high = metrics["accuracy_interval"]
        assert low <= metrics["accuracy"] <= high
    metadata = result.asset_materializations_for_node("evaluation_report")[0].metadata
    assert metadata["every_voice_ensemble_accuracy"].value == pytest.approx(every["results"]["ensemble"]["accuracy"],
                                                                            abs=1e-4)
    assert "## Every voice, synthesized" in (output / "reports/evaluation.md").read_text()

    # none of these renders is one the models trained on
    fine_to_class, seed = load_taxonomy().fine_to_class, config.settings().seed
    trained_on = synthetic_split(fine_to_class, CLASSES, config.synthetic_per_label, PARAMS, seed)
    scored = synthetic_split(fine_to_class, CLASSES, EVALUATION_RENDERS_PER_VOICE, PARAMS, seed,
                             stream=EVALUATION_STREAM)
    assert not {row.tobytes() for row in trained_on.logmel} & {row.tobytes() for row in scored.logmel}


def test_accuracy_interval_is_the_wilson_interval():
    from scipy.stats import binomtest

    for right, n in ((97, 99), (5, 10), (0, 12), (30, 30)):
        expected = binomtest(right, n).proportion_ci(method="wilson")
        assert accuracy_interval(right, n) == pytest.approx((expected.low, expected.high), abs=1e-6)
    assert accuracy_interval(0, 0) == (0.0, 1.0)


def test_the_deployment_gate_refuses_a_drop_only_when_the_test_files_vouch_for_it():
    rng = np.random.default_rng(0)

    def predictions(y, right_share):  # right where a coin of `right_share` says so, else another class
        wrong = rng.random(len(y)) > right_share
        return np.where(wrong, (y + rng.integers(1, 6, len(y))) % 6, y)

    small = rng.integers(0, 6, 21)  # a test split of 21 files: 0.9 against 0.75 right can be chance
    deployed, candidate = predictions(small, 0.9), predictions(small, 0.75)
    assert macro_f1(small, deployed) - macro_f1(small, candidate) > 0.1
    assert macro_f1_drop_bound(small, candidate, deployed, 6) <= 0.02
    large = rng.integers(0, 6, 2000)  # the same rates on 2,000 files: a real drop, bounded just under the observed one
    deployed, candidate = predictions(large, 0.9), predictions(large, 0.75)
    observed = macro_f1(large, deployed) - macro_f1(large, candidate)
    assert observed - 0.04 < macro_f1_drop_bound(large, candidate, deployed, 6) < observed
    assert macro_f1_drop_bound(large, candidate, candidate, 6) == 0


def test_baseline_probabilities_keep_the_class_order_when_a_class_is_missing():
    from drum_pipeline.labels.taxonomy import load_taxonomy

    drums = synthetic_split(load_taxonomy().fine_to_class, CLASSES, 3, PARAMS, seed=7)
    without_hats = drums.y != CLASSES.index("hihat")
    baseline = train_baseline(SplitData(drums.logmel[without_hats], drums.y[without_hats],
                                        drums.fine[without_hats]), PARAMS)
    probabilities = baseline_probabilities(baseline, drums.mfcc(PARAMS), len(CLASSES))
    assert probabilities.shape == (len(drums.y), len(CLASSES))
    assert probabilities[:, CLASSES.index("hihat")].max() == 0
    assert np.allclose(probabilities.sum(axis=1), 1)
    assert (probabilities.argmax(axis=1) == baseline.predict(mfcc_statistics(drums.mfcc(PARAMS)))).all()


def test_the_thresholds_are_an_asset_deployed_with_the_models(trained):
    from drum_pipeline.models.bundle import bundle_thresholds

    _, output, result, _ = trained
    thresholds = json.loads((output / "tables/sorting_thresholds.json").read_text())
    assert 0 <= thresholds["drum_threshold"] <= 1 and 0 <= thresholds["confidence_threshold"] <= 1
    assert load_model_set(output / "models", CLASSES, PARAMS, stage=DEPLOYED).temperatures == thresholds["temperatures"]
    assert bundle_thresholds(output / "models" / "bundle") == thresholds  # what classifying reads
    order = [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()]
    assert (order.index("evaluation_report") < order.index("sorting_thresholds") < order.index("deployed_models")
            < order.index("inference_bundle"))
    metadata = result.asset_materializations_for_node("sorting_thresholds")[0].metadata
    assert 0 <= metadata["test_drums_kept"].value <= 1 and "Test split:" in metadata["rejection"].value
    assert "/reports/detector_curve.png" in metadata["detector_curve"].value
    assert (output / "reports/detector_curve.png").stat().st_size > 1000
    assert "of highest chance" in metadata["review_ranking"].value
    mistakes = thresholds["mistakes"]  # learned on the validation split, unless it held too few mistakes
    assert mistakes is None or (mistakes["features"] == FEATURES and len(mistakes["coef"]) == len(FEATURES))


def test_a_model_under_the_floor_is_not_deployed(trained):
    config, output, _, _ = trained
    deployed = model_dir(output / "models", "model1", DEPLOYED) / "labels.json"
    thresholds = output / "tables/sorting_thresholds.json"
    before = deployed.read_bytes(), thresholds.read_bytes()
    strict = DrumPipelineConfig(**{**config.model_dump(), "min_macro_f1": 1.0})
    result = dg.materialize(list(defs.assets), resources=pipeline_resources(strict),
                            selection=["evaluation_report", "sorting_thresholds", "deployed_models"],
                            raise_on_error=False)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    report = json.loads((output / "reports/evaluation.json").read_text())
    assert report["results"]["model1"]["macro_f1"] < 1.0  # four epochs on a small demo
    assert checks["model1_macro_f1_above_floor"] is False and not result.success  # a blocking check
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"evaluation_report"}  # neither the thresholds nor the deployment follow
    assert (deployed.read_bytes(), thresholds.read_bytes()) == before


def test_synthetic_drums_cover_every_class_and_only_the_training_split(trained):
    from drum_pipeline.demo import synth
    from drum_pipeline.labels.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    synthetic = synthetic_split(taxonomy.fine_to_class, CLASSES, 3, PARAMS, seed=7)
    assert synthetic.logmel.shape == (3 * len(synth.DRUM_VOICES), PARAMS.n_mels, PARAMS.n_frames)
    counts = np.bincount(synthetic.y, minlength=len(CLASSES))
    voices = [taxonomy.fine_to_class[fine] for fine in synth.DRUM_VOICES]
    assert counts.tolist() == [3 * voices.count(name) for name in CLASSES]
    again = synthetic_split(taxonomy.fine_to_class, CLASSES, 3, PARAMS, seed=7)
    assert np.array_equal(again.logmel, synthetic.logmel)  # reproducible
    only_kicks = synthetic_split(taxonomy.fine_to_class, ["kick"], 2, PARAMS, seed=7)
    assert only_kicks.y.tolist() == [0, 0]

    config, output, result, _ = trained
    metadata = result.asset_materializations_for_node("model1")[0].metadata
    table = pd.read_parquet(output / "tables/spectrogram_features.parquet")
    library = splits_from_table(table, CLASSES, PARAMS)
    assert metadata["train_files"].value == len(library["train"].y)
    assert metadata["synthetic_train_files"].value == config.synthetic_per_label * len(synth.DRUM_VOICES)
    report = json.loads((output / "reports/evaluation.json").read_text())
    assert report["context"]["test_files"] == len(library["test"].y)  # val and test: the library's files only
    assert report["context"]["val_files"] == len(library["val"].y)


def test_grouped_cross_validation_holds_out_whole_packs(trained):
    config, output, _, _ = trained
    result = dg.materialize(list(defs.assets), selection=["cross_validation"],
                            resources=pipeline_resources(DrumPipelineConfig(**{**config.model_dump(), "max_epochs": 1})))
    assert result.success

    cv = pd.read_parquet(output / "tables/cross_validation.parquet")
    assert set(cv["model"]) == {"baseline", "model1", "model2"}
    assert cv["fold"].nunique() >= 3 and cv["macro_f1"].between(0, 1).all()
    assert len(cv[cv["model"] == "model1"]) == 3 * cv["fold"].nunique()  # the grid's three configurations
    summary = result.asset_materializations_for_node("cross_validation")[0].metadata["summary"].value
    assert "mean" in summary and "std" in summary


def test_cross_validation_is_not_in_the_main_job():
    keys = {k.to_user_string() for k in defs.resolve_job_def("drum_pipeline").asset_layer.selected_asset_keys}
    assert "cross_validation" not in keys and "evaluation_report" in keys


def test_voice_recall_is_the_share_of_each_voice_put_in_its_class():
    y = np.array([0, 0, 1, 1, 1])
    fine = np.array(["kick", "kick", "conga", "conga", "clap"])
    right = np.eye(2)[y]
    wrong = np.eye(2)[[0, 1, 0, 0, 1]]  # one kick and both congas wrong
    voices = voice_recall(y, {"model1": right, "ensemble": wrong}, fine).set_index("voice")
    assert voices["files"].to_dict() == {"kick": 2, "conga": 2, "clap": 1}
    assert voices["model1"].eq(1.0).all()
    assert voices["ensemble"].to_dict() == {"conga": 0.0, "kick": 0.5, "clap": 1.0}
    assert list(voices.index) == ["conga", "kick", "clap"]  # worst first, by the last model
