"""What a run produced, in a few lines (or as data): counts per class from the archive index,
unsorted files by reason, errors, the evaluation's headline figures and where the outputs are."""

from __future__ import annotations

import json
import re

from drum_pipeline.archive.index import INDEX_COLUMNS, UNSORTED
from drum_pipeline.words import counted


def reason_kind(reason: str) -> str:
    """A reason without its figures: 'low confidence (0.43 under 0.50)' -> 'low confidence'."""
    return re.split(r"[(:]| \d", reason, maxsplit=1)[0].strip()


def run_summary(settings) -> dict:
    """The summary of `settings`' outputs; its counts add up to the rows of the archive index."""
    layout = settings.layout
    index = layout.read_partitions("archive_index", INDEX_COLUMNS)
    ok = index[index["status"] == "ok"]
    unsorted = ok[ok["label"] == UNSORTED]
    summary = {
        "files": len(index),
        "classes": {str(k): int(v) for k, v in ok[ok["label"] != UNSORTED]["label"].value_counts().items()},
        "unsorted": len(unsorted),
        "unsorted_by_reason": {str(k): int(v) for k, v in unsorted["reason"].map(reason_kind).value_counts().items()},
        "duplicates": int((index["status"] == "duplicate").sum()),
        "errors": int((index["status"] == "error").sum()),
        "packs": int(index["pack"].nunique()),
        "evaluation": _headline(layout.reports_dir / "evaluation.json"),
        "outputs": {"rebuilt": str(layout.rebuilt_dir), "index": str(layout.root / "tables" / "archive_index"),
                    "report": str(layout.reports_dir / "evaluation.md")},
        "warnings": [],
    }
    if settings.library_is_default and not settings.archive_is_default:
        summary["warnings"].append(
            f"your archive {settings.archive_dir} was sorted by models trained on the synthesized demo library "
            f"({settings.library_dir}): name your own labelled library with --library or DRUM_LIBRARY_DIR")
    return summary


def _headline(path) -> dict:
    if not path.exists():
        return {}
    report = json.loads(path.read_text())
    ensemble = report.get("results", {}).get("ensemble", {})
    every_voice = report.get("every_voice", {}).get("results", {}).get("ensemble", {})
    return {
        "test_files": report.get("context", {}).get("test_files"),
        "ensemble_accuracy": ensemble.get("accuracy"),
        "ensemble_accuracy_interval": ensemble.get("accuracy_interval"),
        "ensemble_macro_f1": ensemble.get("macro_f1"),
        "every_voice_ensemble_accuracy": every_voice.get("accuracy"),
        "deployed": report.get("context", {}).get("deployed"),
    }


def format_summary(summary: dict) -> str:
    """The summary as a few lines of text."""
    classes = ", ".join(f"{label} {count}" for label, count in sorted(summary["classes"].items())) or "none"
    reasons = ", ".join(f"{count} {kind}" for kind, count in summary["unsorted_by_reason"].items())
    lines = [f"{counted(summary['files'], 'file')} in {counted(summary['packs'], 'pack')}: {classes}",
             f"unsorted {summary['unsorted']}" + (f" ({reasons})" if reasons else "")
             + f", duplicates {summary['duplicates']}, errors {summary['errors']}"]
    evaluation = summary["evaluation"]
    if evaluation.get("ensemble_accuracy") is not None:
        low, high = evaluation.get("ensemble_accuracy_interval") or (float("nan"), float("nan"))
        line = (f"evaluation: ensemble accuracy {evaluation['ensemble_accuracy']:.2f} (95% {low:.2f}-{high:.2f}) "
                f"on {counted(evaluation['test_files'], 'test file')}, macro-F1 {evaluation['ensemble_macro_f1']:.2f}")
        if evaluation.get("every_voice_ensemble_accuracy") is not None:
            line += f"; every voice, synthesized: {evaluation['every_voice_ensemble_accuracy']:.2f}"
        lines.append(line)
    outputs = summary["outputs"]
    lines += [f"sorted mirror: {outputs['rebuilt']}", f"index: {outputs['index']}", f"report: {outputs['report']}"]
    lines += [f"WARNING: {warning}" for warning in summary["warnings"]]
    return "\n".join(lines)

