"""What a run produced, in a few lines (or as data): counts per class as the rebuilt archive holds
them, unsorted files by reason, errors, the evaluation's headline figures and where the outputs are."""

from __future__ import annotations

import json
import re

import pandas as pd

from drum_pipeline.archive.index import INDEX_COLUMNS, UNSORTED
from drum_pipeline.words import counted


def reason_kind(reason: str) -> str:
    """A reason without its figures: 'low confidence (0.43 under 0.50)' -> 'low confidence'."""
    return re.split(r"[(:]| \d", reason, maxsplit=1)[0].strip()


def archive_table(layout) -> pd.DataFrame:
    """The rebuilt archive's ledger, or the archive index before the first rebuild."""
    ledger = layout.table_path("rebuilt_archive")
    return pd.read_parquet(ledger) if ledger.exists() else layout.read_partitions("archive_index", INDEX_COLUMNS)


def archive_counts(table: pd.DataFrame) -> dict:
    """Files, files per class, unsorted files (and by reason), duplicates, errors, skipped files,
    packs, and the placed files by where their label came from (name, sound, correction) of the
    ledger (or of the index: its `ok` rows for the ledger's `placed`). They add up to its rows.
    The ledger counts a file found in two packs once, as the mirror does; the index twice."""
    placed = table[table["status"].isin(["placed", "ok"])]
    unsorted = placed[placed["label"] == UNSORTED]
    statuses = table["status"].value_counts()
    return {
        "files": len(table),
        "classes": {str(k): int(v) for k, v in placed[placed["label"] != UNSORTED]["label"].value_counts().items()},
        "unsorted": len(unsorted),
        "unsorted_by_reason": {str(k): int(v) for k, v in unsorted["reason"].map(reason_kind).value_counts().items()},
        "duplicates": int(statuses.get("duplicate", 0)),
        "errors": int(statuses.get("error", 0)),
        "skipped": int(statuses.get("skipped", 0)),
        "packs": int(table["pack"].nunique()),
        "label_sources": {str(k): int(v) for k, v in placed["label_source"].value_counts().items() if k}
        if "label_source" in placed else {},
    }


def run_summary(settings) -> dict:
    """The summary of `settings`' outputs: the counts of `stats` (archive_counts of the ledger), the
    evaluation's figures, where the outputs are, and warnings."""
    layout = settings.layout
    summary = {
        **archive_counts(archive_table(layout)),
        "evaluation": _headline(layout.reports_dir / "evaluation.json"),
        "review": _review_line(layout.table_path("review_queue")),
        "outputs": {"rebuilt": str(layout.rebuilt_dir), "index": str(layout.root / "tables" / "archive_index"),
                    "report": str(layout.reports_dir / "evaluation.md")},
        "warnings": [],
        "accurate": _embedding_cost(layout.embedding_cost_path) if settings.accurate else {},
    }
    if settings.library_is_default and not settings.archive_is_default:
        summary["warnings"].append(
            f"your archive {settings.archive_dir} was sorted by models trained on the synthesized demo library "
            f"({settings.library_dir}): name your own labelled library with --library or DRUM_LIBRARY_DIR")
    return summary


def _embedding_cost(path) -> dict:
    """The accurate mode's cost in the last archive run (files embedded, seconds, ms a file)."""
    if not path.exists():
        return {}
    cost = json.loads(path.read_text())
    return {**cost, "ms_per_file": round(1000 * cost["seconds"] / cost["files"], 1) if cost["files"] else None}


def _review_line(path) -> str:
    from drum_pipeline.archive.reports import review_summary_line

    return review_summary_line(pd.read_parquet(path, columns=["path"])) if path.exists() else ""


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
    }


def format_summary(summary: dict) -> str:
    """The summary as a few lines of text."""
    classes = ", ".join(f"{label} {count}" for label, count in sorted(summary["classes"].items())) or "none"
    reasons = ", ".join(f"{count} {kind}" for kind, count in summary["unsorted_by_reason"].items())
    lines = [f"{counted(summary['files'], 'file')} in {counted(summary['packs'], 'pack')}: {classes}",
             f"unsorted {summary['unsorted']}" + (f" ({reasons})" if reasons else "")
             + f", duplicates {summary['duplicates']}, errors {summary['errors']}"
             + (f", skipped {summary['skipped']}" if summary["skipped"] else "")]
    if summary.get("label_sources"):
        lines.append("labels from: " + ", ".join(f"{source} {count}" for source, count
                                                 in sorted(summary["label_sources"].items())))
    evaluation = summary["evaluation"]
    if evaluation.get("ensemble_accuracy") is not None:
        low, high = evaluation.get("ensemble_accuracy_interval") or (float("nan"), float("nan"))
        line = (f"evaluation: ensemble accuracy {evaluation['ensemble_accuracy']:.2f} (95% {low:.2f}-{high:.2f}) "
                f"on {counted(evaluation['test_files'], 'test file')}, macro-F1 {evaluation['ensemble_macro_f1']:.2f}")
        if evaluation.get("every_voice_ensemble_accuracy") is not None:
            line += f"; every voice, synthesized: {evaluation['every_voice_ensemble_accuracy']:.2f}"
        lines.append(line)
    accurate = summary.get("accurate") or {}
    if accurate.get("files"):
        lines.append(f"accurate mode: the pretrained embedding took {accurate['seconds']:.1f} s for "
                     f"{counted(accurate['files'], 'new archive file')} ({accurate['ms_per_file']:.0f} ms a file)")
    elif accurate:
        lines.append("accurate mode: every archive file's embedding was cached")
    if summary["review"]:
        lines.append(f"review: {summary['review']} (drum-pipeline review --serve, to hear them)")
    outputs = summary["outputs"]
    lines += [f"sorted mirror: {outputs['rebuilt']}", f"index: {outputs['index']}", f"report: {outputs['report']}"]
    lines += [f"WARNING: {warning}" for warning in summary["warnings"]]
    return "\n".join(lines)

