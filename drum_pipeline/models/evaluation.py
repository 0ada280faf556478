"""Evaluation on the grouped test split: per model a classification report and a confusion
matrix, and the side-by-side comparison, written as Markdown, JSON and PNG files; and on fresh
synthesized renders of every voice, for the voices the test split does not hold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from drum_pipeline.plots import confusion_matrix_png

# What the project measured on real sounds: bench/real_sounds.py, leave-one-source-out over real
# one-shots of Debian packages (written there with --record).


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """F1 averaged over the classes present in `y_true` (a class a split lacks does not count as 0)."""
    if len(y_true) == 0:
        return 0.0
    from sklearn.metrics import f1_score  # imported on use: sklearn costs seconds to import

    return float(f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro", zero_division=0))


def macro_f1_drop_bound(y_true: np.ndarray, candidate: np.ndarray, deployed: np.ndarray, n_classes: int,
                        resamples: int = 2000, seed: int = 0) -> float:
    """How much lower the candidate's macro-F1 is than the deployed models', at least, with 95%
    confidence: the 5th percentile of the drop over a paired bootstrap of the files (both models'
    predicted classes `candidate` and `deployed` on the same files). On a small test split two
    equally good trainings differ by a lot; the bound says what the files can vouch for."""
    y_true, candidate, deployed = (np.asarray(a, int) for a in (y_true, candidate, deployed))
    if len(y_true) == 0:
        return 0.0
    weights = np.random.default_rng(seed).multinomial(len(y_true), np.full(len(y_true), 1 / len(y_true)), resamples)
    truth = np.eye(n_classes)[y_true]  # (files, classes)

    def macro_f1s(predicted: np.ndarray) -> np.ndarray:  # (resamples,): over the classes each resample holds
        said = np.eye(n_classes)[predicted]
        hits, support, claimed = weights @ (truth * said), weights @ truth, weights @ said
        f1 = np.divide(2 * hits, support + claimed, out=np.zeros_like(hits), where=support + claimed > 0)
        return (f1 * (support > 0)).sum(axis=1) / np.maximum((support > 0).sum(axis=1), 1)

    return float(np.percentile(macro_f1s(deployed) - macro_f1s(candidate), 5))


def accuracy_interval(right: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of an accuracy of `right` out of `n`."""
    if n == 0:
        return 0.0, 1.0
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def evaluate(y_true: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict:
    """Macro F1 (over the classes present), weighted F1, accuracy with its 95% interval, the
    per-class report and the confusion matrix."""
    y_pred = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, int)
    right = y_true == y_pred
    labels = list(range(len(classes)))
    from sklearn.metrics import classification_report, confusion_matrix

    report = classification_report(y_true, y_pred, labels=labels, target_names=classes, output_dict=True,
                                   zero_division=0)
    return {
        "n": int(len(y_true)),
        "macro_f1": macro_f1(y_true, y_pred),
        "weighted_f1": float(report["weighted avg"]["f1-score"]) if len(y_true) else 0.0,
        "accuracy": float(np.mean(right)) if len(y_true) else 0.0,
        "accuracy_interval": accuracy_interval(int(np.sum(right)), len(y_true)),
        "report": report,
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def voice_recall(y_true: np.ndarray, probabilities: dict[str, np.ndarray], fine: np.ndarray) -> pd.DataFrame:
    """Per fine label (voice): its files and each model's share of them put in the right class,
    worst first by the last model. Shows which kinds of sound a split covers, and how each fared."""
    table = pd.DataFrame({"voice": fine, "files": 1})
    for name, p in probabilities.items():
        table[name] = p.argmax(axis=1) == y_true
    return (table.groupby("voice").agg({"files": "sum", **{name: "mean" for name in probabilities}})
            .sort_values(list(probabilities)[-1]).reset_index().round(3))


def comparison_tables(results: dict[str, dict], classes: list[str], width: int = 3) -> dict[str, str]:
    """Side by side, one row per model and at most `width` figures per table, so that each fits
    the Dagster UI's metadata column: macro F1, weighted F1 and accuracy; the accuracy's 95%
    interval; the F1 of each class, `width` classes at a time. Keyed by what they show."""
    def table(columns: list[str], cell) -> str:
        lines = [f"| model | {' | '.join(columns)} |", "| --- |" + " --- |" * len(columns)]
        lines += [f"| {name} | " + " | ".join(cell(result, column) for column in columns) + " |"
                  for name, result in results.items()]
        return "\n".join(lines)

    keys = {"macro F1": "macro_f1", "weighted F1": "weighted_f1", "accuracy": "accuracy"}
    tables = {"comparison": table(list(keys), lambda r, c: f"{r[keys[c]]:.3f}"),
              "accuracy_interval": table(["accuracy, 95% interval"],
                                         lambda r, c: "{:.3f}-{:.3f}".format(*r["accuracy_interval"]))}
    for start in range(0, len(classes), width):
        group = classes[start : start + width]
        tables[f"f1_{'_'.join(group)}"] = table(group, lambda r, c: f"{r['report'][c]['f1-score']:.3f}")
    return tables


def comparison_markdown(results: dict[str, dict], classes: list[str]) -> str:
    """The comparison_tables one after the other, each under its key, for the reports."""
    return "\n\n".join(f"{key.replace('_', ' ')}:\n\n{table}" for key, table in comparison_tables(results, classes).items())


EVERY_VOICE_NOTE = (
    "The test split holds only the voices of its packs, in their proportions. Here every voice the "
    "synthesizer knows is rendered afresh, the same number of times, and classified by the same models "
    "(no model trained on these renders). An archive that holds the voices evenly is classified at "
    "about this accuracy; one like the library, at the test split's. The synthesizer is not your "
    "samples: on real packs, read the per-voice shares as which voices are weak, not as a forecast.")


def every_voice_markdown(every_voice: dict[str, dict], every_voice_table: pd.DataFrame,
                         classes: list[str]) -> str:
    """What the renders of every voice are, the models side by side on them, and the per-voice table."""
    return "\n\n".join([EVERY_VOICE_NOTE, comparison_markdown(every_voice, classes),
                        every_voice_table.to_markdown(index=False)])


def rejection_markdown(rejection: dict) -> str:
    """The calibrated unsorted thresholds, what they keep and reject on held-out sounds, and the
    detector's curve (drums kept against non-drums rejected)."""
    rules = rejection["rules"]
    lines = [
        f"Thresholds picked on the validation split's drums to keep {rejection['keep_share']:.0%} of them sorted:",
        "",
        f"- drum detector: score under {rules['drum_threshold']:.3f} is not a drum one-shot",
        f"- ensemble confidence under {rules['confidence_threshold']:.3f}",
        f"- longer than {rules['max_one_shot_seconds']:g} s",
        "",
        f"Test split: {rejection['test_drums_kept']:.1%} of {rejection['test_drums']} drums kept sorted. "
        f"Held-out non-drums ({rejection['library_non_drums']} library files the detector never heard, the rest "
        f"fresh synthesized): {rejection['non_drums_rejected']:.1%} of {rejection['held_out_non_drums']} rejected.",
    ]
    curve = rejection.get("curve")
    if curve is not None and len(curve):
        lines += ["", "The detector alone (validation drums against held-out non-drums):", "",
                  curve.to_markdown(index=False)]
    return "\n".join(lines)


def vouching_markdown(library_is_demo: bool) -> str:
    """What the figures of this evaluation can vouch for."""
    if library_is_demo:
        return ("**The test split and the renders are synthesized drums (the demo library).** They show that the "
                "pipeline works; they say nothing about how real packs are sorted.")
    return ("The test split is your library's own held-out packs: the figures are what the evaluation vouches "
            "for on sounds like your library's. Packs unlike any of them score lower.")


def report_markdown(results: dict[str, dict], classes: list[str], context: dict, voices: pd.DataFrame,
                    every_voice: dict[str, dict], every_voice_table: pd.DataFrame, rejection: dict | None = None) -> str:
    parts = ["# Evaluation on the grouped test split", "", context.get("vouches_for", ""), ""]
    parts += [f"- {key}: {value}" for key, value in context.items() if key != "vouches_for"]
    parts += ["", "## Side by side", "", comparison_markdown(results, classes), ""]
    caveat = ("An archive with other voices than the test split, or in other proportions, is classified at "
              "the accuracy of its own voices, not at the split's: see *Every voice* below.")
    parts += ["## Per voice: the share put in the right class", "", caveat, "", voices.to_markdown(index=False), ""]
    parts += ["## Every voice, synthesized", "", every_voice_markdown(every_voice, every_voice_table, classes), ""]
    if rejection:
        parts += ["## What goes to unsorted", "", rejection_markdown(rejection), ""]
    for name, result in results.items():
        parts += [f"## {name}", "", "| class | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
        for cls in [*classes, "macro avg", "weighted avg"]:
            row = result["report"][cls]
            parts.append(f"| {cls} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1-score']:.3f} | "
                         f"{int(row['support'])} |")
        parts += ["", f"![confusion matrix of {name}](confusion_{name}.png)", ""]
    return "\n".join(parts)


def write_reports(reports_dir: Path, results: dict[str, dict], classes: list[str], context: dict,
                  voices: pd.DataFrame, every_voice: dict[str, dict], every_voice_table: pd.DataFrame,
                  rejection: dict | None = None) -> dict[str, bytes]:
    """evaluation.md and evaluation.json under `reports_dir`; returns each model's confusion matrix as
    a PNG (the asset keeps them as reports/confusion_<model>.png, pictures of the UI)."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    pngs = {}
    for name, result in results.items():
        pngs[name] = confusion_matrix_png(np.array(result["confusion"]), classes,
                                          f"{name}: macro F1 {result['macro_f1']:.3f}")
    (reports_dir / "evaluation.md").write_text(
        report_markdown(results, classes, context, voices, every_voice, every_voice_table, rejection))
    (reports_dir / "evaluation.json").write_text(json.dumps(
        {"context": context, "classes": classes, "results": results, "voices": voices.to_dict("records"),
         "every_voice": {"results": every_voice, "voices": every_voice_table.to_dict("records")},
         "rejection": {key: value.to_dict("records") if isinstance(value, pd.DataFrame) else value
                       for key, value in (rejection or {}).items()}}, indent=2))
    return pngs


def corrected_files_table(truth: list[str], before: list[str], after: list[str]) -> pd.DataFrame:
    """How the models did on the archive files the user corrected: before (the models deployed
    when the retrain began) and after (the retrained candidates), as the share of files right."""
    n = len(truth)
    right = lambda labels: round(float(np.mean(np.array(labels) == np.array(truth))), 4) if n else None  # noqa: E731
    return pd.DataFrame([{"files": n, "accuracy_before": right(before), "accuracy_after": right(after)}])
