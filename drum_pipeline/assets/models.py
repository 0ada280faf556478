"""Model 1, Model 2 (autoencoder and classifier), and their evaluation on the grouped test split."""

import dagster as dg

from drum_pipeline.assets._metadata import markdown_table, png_image
from drum_pipeline.assets.shared import AUTOMATION
from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.labels.taxonomy import load_taxonomy
from drum_pipeline.models.evaluation import (
    comparison_markdown,
    evaluate,
    every_voice_markdown,
    voice_recall,
    write_reports,
)
from drum_pipeline.models.inference import fit_temperature, load_model_set
from drum_pipeline.models.store import (
    CANDIDATE,
    DEPLOYED,
    ModelMismatchError,
    load_model,
    model_dir,
    promote,
    save_model,
    update_meta,
)
from drum_pipeline.plots import history_png
from drum_pipeline.resources import DrumPipelineConfig
from drum_pipeline.settings import Settings

# drum_pipeline.models.networks, and model_selection and pretraining with it, import TensorFlow (about 3 s):
# they are imported inside the assets, so loading the definitions (every run process, the UI's
# code server) does not pay for it.

MODEL_DEPS = ["spectrogram_features", "mfcc_features", "taxonomy"]
DEPLOYED_MODELS = ["model1", "model2_autoencoder", "model2_encoder", "model2_classifier"]


def _training_data(settings: Settings, synthetic: bool = False):
    """(classes, feature parameters, splits); with `synthetic`, the synthesized drums are added
    to the training split, and `train_library` keeps the library's own."""
    from drum_pipeline.models.networks import splits_from_table
    from drum_pipeline.models.synthetic import synthetic_split

    taxonomy = load_taxonomy(settings.taxonomy_path)
    classes = list(taxonomy.classes)
    params = FeatureParams()
    splits = splits_from_table(settings.layout.read_table("spectrogram_features"), classes, params)
    if len(splits["train"].y) == 0:
        raise ValueError("the curated training set has no usable training files: check label_extraction")
    splits["train_library"] = splits["train"]
    if synthetic:
        config = settings.training_config()
        splits["train"] = splits["train"].plus(
            synthetic_split(taxonomy.fine_to_class, classes, config.synthetic_per_label, params, config.seed))
    return classes, params, splits


def _train_counts(data) -> dict:
    library = len(data["train_library"].y)
    return {"train_files": library, "synthetic_train_files": len(data["train"].y) - library}


def _training_metadata(result, title: str) -> dict:
    history = result.history
    metadata = {
        "training_seconds": dg.MetadataValue.float(round(result.seconds, 1)),
        "epochs": len(history["loss"]),
        "curves": png_image(history_png(history, title), f"{title} training curves"),
    }
    if "val_accuracy" in history:
        metadata["best_val_accuracy"] = dg.MetadataValue.float(round(max(history["val_accuracy"]), 4))
    if "val_loss" in history:
        metadata["best_val_loss"] = dg.MetadataValue.float(round(min(history["val_loss"]), 5))
    return metadata


@dg.asset(group_name="models", deps=MODEL_DEPS, code_version="2", automation_condition=AUTOMATION)
def model1(context: dg.AssetExecutionContext, config: DrumPipelineConfig) -> dg.MaterializeResult:
    """Model 1: a small CNN on MFCC frames (Keras), trained with augmentation, class weights and
    early stopping on the grouped validation split. Saved as a candidate with its label mapping."""
    from drum_pipeline.models.networks import train_model1

    settings = config.settings()
    classes, params, data = _training_data(settings, synthetic=True)
    result = train_model1(data["train"], data["val"], params, len(classes), settings.training_config(),
                          log=context.log.info)
    folder = save_model(settings.layout.models_dir, "model1", result.model, classes, params, history=result.history)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(folder)),
                                          **_train_counts(data),
                                          **_training_metadata(result, "Model 1 (MFCC CNN)")})


@dg.asset(group_name="models", deps=MODEL_DEPS, code_version="3", automation_condition=AUTOMATION)
def model2_encoder(context: dg.AssetExecutionContext, config: DrumPipelineConfig) -> dg.MaterializeResult:
    """Model 2's convolutional autoencoder on log-mel spectrograms; its encoder gives the embedding
    used by the classifier and for finding similar sounds."""
    from drum_pipeline.models.networks import train_autoencoder

    settings = config.settings()
    classes, params, data = _training_data(settings, synthetic=True)
    result = train_autoencoder(data["train"], data["val"], params, settings.training_config(),
                               log=context.log.info)
    models_dir = settings.layout.models_dir
    save_model(models_dir, "model2_autoencoder", result.model, classes, params, history=result.history)
    folder = save_model(models_dir, "model2_encoder", result.extra["encoder"], classes, params)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(folder)),
                                          "embedding_size": int(result.extra["encoder"].output_shape[-1]),
                                          **_train_counts(data),
                                          **_training_metadata(result, "Model 2 autoencoder")})


@dg.asset(group_name="models", deps=[model2_encoder, *MODEL_DEPS], code_version="2", automation_condition=AUTOMATION)
def model2_classifier(context: dg.AssetExecutionContext, config: DrumPipelineConfig) -> dg.MaterializeResult:
    """Model 2's classifier: a dense head on the encoder's embedding, then fine-tuned with it."""
    from drum_pipeline.models.networks import train_model2_classifier

    settings = config.settings()
    classes, params, data = _training_data(settings, synthetic=True)
    encoder, _ = load_model(model_dir(settings.layout.models_dir, "model2_encoder"), classes, params,
                            for_training=True)
    result = train_model2_classifier(encoder, data["train"], data["val"], len(classes),
                                     settings.training_config(), log=context.log.info)
    folder = save_model(settings.layout.models_dir, "model2_classifier", result.model, classes, params,
                        history=result.history)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(folder)), **_train_counts(data),
                                          **_training_metadata(result, "Model 2 classifier")})


FLOOR_CHECKS = {"model1": "model1_macro_f1_above_floor", "model2": "model2_macro_f1_above_floor",
                "ensemble": "ensemble_macro_f1_above_floor"}


@dg.asset(
    group_name="models",
    deps=[model1, model2_classifier, *MODEL_DEPS],
    code_version="4", automation_condition=AUTOMATION,
    check_specs=[
        *(dg.AssetCheckSpec(name, asset="evaluation_report", blocking=True) for name in FLOOR_CHECKS.values()),
        dg.AssetCheckSpec("not_worse_than_deployed", asset="evaluation_report", blocking=True),
        dg.AssetCheckSpec("models_beat_baseline", asset="evaluation_report"),
    ],
)
def evaluation_report(context: dg.AssetExecutionContext, config: DrumPipelineConfig) -> dg.MaterializeResult:
    """Both models, their ensemble and a baseline (logistic regression on MFCC statistics; also
    trained with the synthesized drums, as `baseline_synthetic`) on the grouped test split:
    confusion matrices, classification reports, the comparison; and the comparison and per-voice
    shares on fresh synthesized renders of every voice, which the test split may lack. Temperatures
    for the ensemble are fitted on the validation split. Candidates that pass the blocking checks
    are deployed; the archive is classified with the deployed models only."""
    from drum_pipeline.models.networks import baseline_probabilities, train_baseline
    from drum_pipeline.models.synthetic import EVALUATION_RENDERS_PER_VOICE, EVALUATION_STREAM, synthetic_split

    settings = config.settings()
    classes, params, data = _training_data(settings, synthetic=True)
    models_dir = settings.layout.models_dir
    candidates = load_model_set(models_dir, classes, params, stage=CANDIDATE)
    val, test = data["val"], data["test"]
    if len(test.y) == 0:
        raise ValueError("the grouped test split is empty: the library needs at least three packs or instrument folders")

    val_probs = candidates.predict(val.mfcc(params), val.logmel)
    for name, key in (("model1", "model1"), ("model2_classifier", "model2")):
        candidates.temperatures[name] = fit_temperature(val_probs[key], val.y)
        update_meta(models_dir, name, temperature=candidates.temperatures[name])
    every = synthetic_split(load_taxonomy(settings.taxonomy_path).fine_to_class, classes,
                            EVALUATION_RENDERS_PER_VOICE, params, settings.seed, stream=EVALUATION_STREAM)
    probabilities = candidates.predict(test.mfcc(params), test.logmel)
    every_probabilities = candidates.predict(every.mfcc(params), every.logmel)
    # The baseline learns from the library's files; the same baseline given the synthesized drums
    # the models learn from too is reported beside it, for a like-for-like comparison.
    for name, train in (("baseline", data["train_library"]), ("baseline_synthetic", data["train"])):
        baseline = train_baseline(train, params, settings.seed)
        probabilities[name] = baseline_probabilities(baseline, test.mfcc(params), len(classes))
        every_probabilities[name] = baseline_probabilities(baseline, every.mfcc(params), len(classes))
    names = ("baseline", "baseline_synthetic", "model1", "model2", "ensemble")
    results = {name: evaluate(test.y, probabilities[name], classes) for name in names}
    every_voice = {name: evaluate(every.y, every_probabilities[name], classes) for name in names}

    try:
        deployed = load_model_set(models_dir, classes, params, stage=DEPLOYED)
        deployed_f1 = evaluate(test.y, deployed.predict(test.mfcc(params), test.logmel)["ensemble"], classes)["macro_f1"]
    except ModelMismatchError as exc:
        context.log.info(f"no comparable deployed model: {exc}")
        deployed_f1 = None
    floor = settings.min_macro_f1
    checks = [dg.AssetCheckResult(check_name=check, passed=results[name]["macro_f1"] >= floor,
                                  metadata={"macro_f1": round(results[name]["macro_f1"], 4), "floor": floor})
              for name, check in FLOOR_CHECKS.items()]
    tolerance = 0.02  # a test split of a few hundred files moves by about this much between equal models
    checks.append(dg.AssetCheckResult(
        check_name="not_worse_than_deployed",
        passed=deployed_f1 is None or results["ensemble"]["macro_f1"] >= deployed_f1 - tolerance,
        metadata={"candidate_macro_f1": round(results["ensemble"]["macro_f1"], 4),
                  "deployed_macro_f1": round(deployed_f1, 4) if deployed_f1 is not None else "none deployed"}))
    beaten = {name: results[name]["macro_f1"] > results["baseline"]["macro_f1"] for name in ("model1", "model2")}
    checks.append(dg.AssetCheckResult(check_name="models_beat_baseline", passed=all(beaten.values()),
                                      severity=dg.AssetCheckSeverity.WARN,
                                      metadata={f"{n}_beats_baseline": b for n, b in beaten.items()}))
    deploy = all(check.passed for check in checks[:-1])
    if deploy:
        promote(models_dir, DEPLOYED_MODELS)
        context.log.info("candidates passed the checks and are deployed")
    else:
        context.log.warning("candidates failed a blocking check: the deployed models stay as they were")

    context_info = {"test_files": int(len(test.y)), "val_files": int(len(val.y)),
                    "train_files": int(len(data["train_library"].y)),
                    "synthetic_per_label": settings.training_config().synthetic_per_label,
                    "temperatures": candidates.temperatures, "deployed": deploy, "min_macro_f1": floor}
    voices = voice_recall(test.y, {name: probabilities[name] for name in names}, test.fine)
    every_voice_table = voice_recall(every.y, {name: every_probabilities[name] for name in names}, every.fine)
    pngs = write_reports(settings.layout.reports_dir, results, classes, context_info, voices, every_voice,
                         every_voice_table)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(settings.layout.reports_dir / "evaluation.md")),
            "comparison": dg.MetadataValue.md(comparison_markdown(results, classes)),
            "per_voice": markdown_table(voices),
            "test_voices": len(voices),
            "every_voice": dg.MetadataValue.md(every_voice_markdown(every_voice, every_voice_table, classes)),
            "every_voice_ensemble_accuracy": dg.MetadataValue.float(round(every_voice["ensemble"]["accuracy"], 4)),
            **{f"{name}_macro_f1": dg.MetadataValue.float(round(r["macro_f1"], 4)) for name, r in results.items()},
            **{f"confusion_{name}": png_image(png, f"confusion matrix of {name}") for name, png in pngs.items()},
            "deployed": deploy,
            "test_files": int(len(test.y)),
        },
        check_results=checks,
    )


@dg.asset(group_name="models", deps=[evaluation_report], code_version="1", automation_condition=AUTOMATION)
def inference_bundle(context: dg.AssetExecutionContext, config: DrumPipelineConfig) -> dg.MaterializeResult:
    """The deployed models exported for production (models/bundle/): LiteRT files of Model 1,
    Model 2's classifier and its encoder, the classes, the feature parameters and their digest,
    the temperatures and the known sounds. Archive classification runs on it, without TensorFlow."""
    from drum_pipeline.archive.index import export_inference_bundle

    target = export_inference_bundle(config.settings())
    megabytes = sum(f.stat().st_size for f in target.iterdir()) / 2**20
    context.log.info(f"inference bundle in {target}: {megabytes:.1f} MB")
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(target)),
                                          "megabytes": dg.MetadataValue.float(round(megabytes, 2))})


@dg.asset(group_name="model_selection", deps=["spectrogram_features", "taxonomy"], code_version="2")
def cross_validation(context: dg.AssetExecutionContext, config: DrumPipelineConfig) -> dg.MaterializeResult:
    """Grouped cross-validation by pack over a small grid of training configurations (Model 1 for
    each, Model 2 for the default, the baseline once), on the train and val splits; mean and
    spread of macro-F1. Launched on purpose (the model_selection job): it trains many models."""
    from drum_pipeline.models.selection import grid_from, grouped_cross_validation, summarize

    settings = config.settings()
    classes, params, _ = _training_data(settings)
    cv = grouped_cross_validation(settings.layout.read_table("spectrogram_features"), classes, params,
                                  load_taxonomy(settings.taxonomy_path).fine_to_class,
                                  grid_from(settings.training_config()), log=context.log.info)
    path = settings.layout.write_table("cross_validation", cv)
    summary = summarize(cv)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "summary": markdown_table(summary),
        "folds": int(cv["fold"].nunique()),
    })
