"""The evaluation of the candidate models on the grouped test split, and the blocking checks that
keep a worse candidate from being deployed."""

from dataclasses import replace

import dagster as dg
import numpy as np
import pandas as pd

from drum_pipeline.archive.corrections import read_corrections
from drum_pipeline.audio.feature_cache import feature_matrix
from drum_pipeline.audio.features import FeatureParams, mfcc_from_logmel
from drum_pipeline.config.layout import write_atomic
from drum_pipeline.defs.metadata import markdown_table, picture
from drum_pipeline.defs.models.assets import (
    MODEL_INPUTS,
    descriptor_model,
    drum_detector,
    embedding_model,
    model1,
    model2_classifier,
    taxonomy_classes,
    training_splits,
)
from drum_pipeline.defs.resources import DrumPipelineConfig
from drum_pipeline.labels.taxonomy import load_taxonomy
from drum_pipeline.models.evaluation import (
    comparison_tables,
    corrected_files_table,
    evaluate,
    every_voice_markdown,
    macro_f1_drop_bound,
    voice_recall,
    vouching_markdown,
    write_reports,
)
from drum_pipeline.models.inference import calibrated_candidates, load_model_set
from drum_pipeline.models.networks import embedding_matrix
from drum_pipeline.models.store import DEPLOYED, ModelMismatchError

GATE_TOLERANCE = 0.02  # the ensemble's macro-F1 may be this much below the deployed one's (95% bound of the drop)
FLOOR_CHECKS = {"model1": "model1_macro_f1_above_floor", "model2": "model2_macro_f1_above_floor",
                "ensemble": "ensemble_macro_f1_above_floor"}
NOT_WORSE_CHECK = "not_worse_than_deployed"
# The checks a candidate must pass to be deployed: blocking, so deployed_models (downstream) waits for them.
DEPLOYMENT_CHECKS = [*FLOOR_CHECKS.values(), NOT_WORSE_CHECK]


def _corrected_files(spectrograms: pd.DataFrame, corrections_path, classes: list[str], params: FeatureParams,
                     candidates, deployed):
    """The corrected archive files of the curated set: how the deployed models (or, without them,
    the labels the models gave when the user corrected) and the retrained candidates classify them."""
    if "source" in spectrograms.columns:
        table = spectrograms[(spectrograms["source"] == "correction") & (spectrograms["error"] == "")]
    else:
        table = spectrograms.iloc[:0]
    truth = list(table["label"])
    if not truth:
        return corrected_files_table([], [], [])
    logmel = feature_matrix(table, "logmel", params)
    mfcc = mfcc_from_logmel(logmel, params.n_mfcc)
    duration = table["duration"].to_numpy(np.float32)
    embedding = embedding_matrix(table)
    names = np.array(classes)
    after = list(names[candidates.predict(mfcc, logmel, duration, embedding=embedding)["ensemble"].argmax(axis=1)])
    if deployed is not None:
        before = list(names[deployed.predict(mfcc, logmel, duration, embedding=embedding)["ensemble"].argmax(axis=1)])
    else:
        model_label = read_corrections(corrections_path).set_index("sha256")["model_label"]
        before = [model_label.get(sha, "") for sha in table["sha256"]]
    return corrected_files_table(truth, before, after)


@dg.asset(
    code_version="10",
    **{**MODEL_INPUTS, "deps": ["taxonomy", model1, model2_classifier, drum_detector, descriptor_model,
                                    embedding_model]},
    check_specs=[
        *(dg.AssetCheckSpec(name, asset="evaluation_report", blocking=True) for name in DEPLOYMENT_CHECKS),
        dg.AssetCheckSpec("models_beat_baseline", asset="evaluation_report"),
    ],
)
def evaluation_report(context: dg.AssetExecutionContext, config: DrumPipelineConfig,
                      spectrogram_features: pd.DataFrame, synthetic_drums: pd.DataFrame,
                      base_corpus: pd.DataFrame) -> dg.MaterializeResult:
    """Both models, their ensemble and a baseline (logistic regression on MFCC statistics; also
    trained with the synthesized drums, as `baseline_synthetic`) on the grouped test split:
    confusion matrices, classification reports, the comparison; and the comparison and per-voice
    shares on fresh synthesized renders of every voice, which the test split may lack. The
    ensemble's temperatures are fitted on the validation split. Its blocking checks (the macro-F1
    floors, not worse than the deployed models) gate deployed_models; it deploys nothing itself."""
    from drum_pipeline.models.networks import baseline_probabilities, train_baseline
    from drum_pipeline.models.synthetic import EVALUATION_RENDERS_PER_VOICE, EVALUATION_STREAM, synthetic_split

    settings, classes, params = config.settings(), taxonomy_classes(config), FeatureParams()
    data = training_splits(spectrogram_features, synthetic_drums, classes, params, base_corpus)
    models_dir = settings.layout.models_dir
    val, test = data["val"], data["test"]
    if len(test.y) == 0:
        raise ValueError("the grouped test split is empty: the library needs at least three packs or instrument folders")
    candidates = calibrated_candidates(models_dir, classes, params, val)
    every = synthetic_split(load_taxonomy(settings.taxonomy_path).fine_to_class, classes,
                            EVALUATION_RENDERS_PER_VOICE, params, settings.seed, stream=EVALUATION_STREAM)
    probabilities = candidates.predict_split(test)
    every_probabilities = candidates.predict_split(every)
    # The baseline learns from the library's files; the same baseline given the synthesized drums
    # the models learn from too is reported beside it, for a like-for-like comparison.
    for name, train in (("baseline", data["train_library"]), ("baseline_synthetic", data["train"])):
        baseline = train_baseline(train, params, settings.seed)
        probabilities[name] = baseline_probabilities(baseline, test.mfcc(params), len(classes))
        every_probabilities[name] = baseline_probabilities(baseline, every.mfcc(params), len(classes))
    names = tuple(name for name in ("baseline", "baseline_synthetic", "model1", "model2", "descriptors", "embedding",
                                    "ensemble")
                  if name in probabilities)
    results = {name: evaluate(test.y, probabilities[name], classes) for name in names}
    # synthesized renders have no embedding: the accurate mode's member is left out of that comparison
    every_voice = {name: evaluate(every.y, every_probabilities[name], classes) for name in names
                   if name in every_probabilities}

    deployed = None
    try:
        deployed = load_model_set(models_dir, classes, params, stage=DEPLOYED)
        # The deployed trees (and embedding member) were refit on this test split too: compared with the
        # candidate's, which were not.
        comparable = replace(deployed, descriptor_model=candidates.descriptor_model,
                             embedding_model=candidates.embedding_model)
        deployed_probabilities = comparable.predict_split(test)
        deployed_f1 = evaluate(test.y, deployed_probabilities["ensemble"], classes)["macro_f1"]
        drop_bound = macro_f1_drop_bound(test.y, probabilities["ensemble"].argmax(axis=1),
                                         deployed_probabilities["ensemble"].argmax(axis=1), len(classes))
    except ModelMismatchError:
        context.log.info("no models deployed yet: the candidates are compared with the floors only")
        deployed_f1 = drop_bound = None
    corrected = _corrected_files(spectrogram_features, settings.layout.corrections_path, classes, params, candidates,
                                 deployed)
    if corrected["files"].iloc[0]:
        context.log.info(f"{corrected['files'].iloc[0]} files corrected by hand: accuracy "
                         f"{corrected['accuracy_before'].iloc[0]} before, {corrected['accuracy_after'].iloc[0]} after")
    floor = settings.min_macro_f1
    checks = [dg.AssetCheckResult(check_name=check, passed=results[name]["macro_f1"] >= floor,
                                  metadata={"macro_f1": round(results[name]["macro_f1"], 4), "floor": floor})
              for name, check in FLOOR_CHECKS.items()]
    checks.append(dg.AssetCheckResult(
        check_name=NOT_WORSE_CHECK,  # worse by more than the tolerance, beyond what the test files leave to chance
        passed=drop_bound is None or drop_bound <= GATE_TOLERANCE,
        metadata={"candidate_macro_f1": round(results["ensemble"]["macro_f1"], 4),
                  "deployed_macro_f1": round(deployed_f1, 4) if deployed_f1 is not None else "none deployed",
                  "macro_f1_drop_at_least": round(drop_bound, 4) if drop_bound is not None else "none deployed",
                  "tolerance": GATE_TOLERANCE, "test_files": int(len(test.y))}))
    beaten = {name: results[name]["macro_f1"] > results["baseline"]["macro_f1"] for name in ("model1", "model2")}
    checks.append(dg.AssetCheckResult(check_name="models_beat_baseline", passed=all(beaten.values()),
                                      severity=dg.AssetCheckSeverity.WARN,
                                      metadata={f"{n}_beats_baseline": b for n, b in beaten.items()}))

    from drum_pipeline.demo.data import MANIFEST_NAME

    vouches_for = vouching_markdown((settings.library_dir / MANIFEST_NAME).exists())  # written only by the demo
    context_info = {"vouches_for": vouches_for, "test_files": int(len(test.y)), "val_files": int(len(data["val_library"].y)),
                    "train_files": int(len(data["train_library"].y)),
                    "base_corpus_train_files": int(data.get("base_train_files", 0)),
                    "base_corpus_val_files": int(len(val.y) - len(data["val_library"].y)),
                    "synthetic_per_label": settings.training_config().synthetic_per_label,
                    "temperatures": candidates.temperatures, "min_macro_f1": floor}
    voices = voice_recall(test.y, {name: probabilities[name] for name in names}, test.fine)
    every_voice_table = voice_recall(every.y, {name: every_probabilities[name] for name in every_voice}, every.fine)
    write_atomic(settings.layout.reports_dir / "corrected_files.json",
                 lambda tmp: corrected.to_json(tmp, orient="records", indent=1))
    pngs = write_reports(settings.layout.reports_dir, results, classes, context_info, voices, every_voice,
                         every_voice_table)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(settings.layout.reports_dir / "evaluation.md")),
            "vouches_for": dg.MetadataValue.md(vouches_for),
            **{key: dg.MetadataValue.md(table) for key, table in comparison_tables(results, classes).items()},
            "per_voice": markdown_table(voices),
            "test_voices": len(voices),
            "every_voice": dg.MetadataValue.md(every_voice_markdown(every_voice, every_voice_table, classes)),
            "every_voice_ensemble_accuracy": dg.MetadataValue.float(round(every_voice["ensemble"]["accuracy"], 4)),
            **{f"{name}_macro_f1": dg.MetadataValue.float(round(r["macro_f1"], 4)) for name, r in results.items()},
            **{f"confusion_{name}": picture(settings.layout, f"confusion_{name}", png, f"confusion matrix of {name}")
               for name, png in pngs.items()},
            "test_files": int(len(test.y)),
            "corrected_files": markdown_table(corrected),
        },
        check_results=checks,
    )
