"""The archive index (one partition per pack) and the rebuilt, sorted mirror."""

import json
import warnings
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from drum_pipeline.archive.corrections import apply_corrections, read_corrections
from drum_pipeline.archive.index import INDEX_COLUMNS, index_pack, list_packs, load_classifier, pack_files
from drum_pipeline.archive.rebuild import rebuild_from_index
from drum_pipeline.archive.reports import FIRST_LOOK, folder_summary_line, review_summary_line
from drum_pipeline.archive.reports import folder_report as folder_report_table
from drum_pipeline.archive.reports import review_queue as review_queue_table
from drum_pipeline.audio.feature_cache import FeatureCache
from drum_pipeline.audio.folders import fingerprint
from drum_pipeline.audio.hashing import HashCache
from drum_pipeline.config.layout import write_atomic
from drum_pipeline.config.settings import REVIEW_URL
from drum_pipeline.defs.metadata import markdown_table, picture
from drum_pipeline.defs.resources import DrumPipelineConfig
from drum_pipeline.defs.shared import AUTOMATION, MIRROR_PACKS, PACK_FINGERPRINT, archive_packs, packs_digest
from drum_pipeline.labels.taxonomy import load_taxonomy
from drum_pipeline.plots import bar_chart_png
from drum_pipeline.progress import ProgressLog


def _disagreements(index: pd.DataFrame) -> pd.DataFrame:
    """The files whose folder name claims a class the audio does not agree with."""
    wrong = index[(index["folder_label"] != "") & ~index["folder_agrees"].astype(bool) & (index["status"] == "ok")]
    return wrong[["path", "folder_label", "predicted_label", "confidence"]]


def _summary(table: pd.DataFrame, chart_layout=None) -> dict:
    """Counts per status and class and a confidence histogram; with `chart_layout` (an OutputLayout)
    a bar chart of the classes too (about 0.15 s to draw: once per rebuild, not once per pack)."""
    statuses = table["status"].value_counts()
    placed = table[table["status"].isin(["ok", "placed"])]
    counts = placed["label"].value_counts()
    confidence = table["confidence"].dropna()
    histogram = np.histogram(confidence, bins=np.linspace(0, 1, 11))[0] if len(confidence) else np.zeros(10, int)
    summary = {
        "files": len(table),
        "errors": int(statuses.get("error", 0)),
        "duplicates": int(statuses.get("duplicate", 0)),
        "skipped": int(statuses.get("skipped", 0)),
        "per_class": markdown_table(counts.rename_axis("label").reset_index()),
        "labels_from": ", ".join(f"{source} {count}" for source, count in sorted(
            placed["label_source"].value_counts().items()) if source) or "none",
        "confidence_histogram": markdown_table(pd.DataFrame(
            {"confidence": [f"{b / 10:.1f}-{(b + 1) / 10:.1f}" for b in range(10)], "files": histogram})),
    }
    if chart_layout is not None:
        summary["class_distribution"] = picture(chart_layout, "class_distribution",
                                                bar_chart_png(counts.to_dict(), "files per class"), "files per class")
    return summary


MAX_PACKS_PER_RUN = 100


# backfill_policy is beta; running many packs per run is the point, so its warning is silenced here only.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=dg.BetaWarning)

    @dg.asset(
        group_name="archive",
        partitions_def=archive_packs,
        deps=["sample_archive", "inference_bundle", "corrections"],
        code_version="5", automation_condition=AUTOMATION,
        # A backfill of many packs runs them in few runs: the models and known sounds load once per run.
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_PACKS_PER_RUN),
    )
    def archive_index(context: dg.AssetExecutionContext, config: DrumPipelineConfig, sorting_thresholds: dict):
        """Every file of one pack: content hash, duplicates (pointing at the earlier file), the
        ensemble's label and fine label with confidence, each model's prediction, the folder's own
        claim and whether the audio agrees, the maker, and errors. Too long for a one-shot, not like a
        drum one-shot (the drum detector), or under the calibrated confidence threshold, the label is
        `unsorted`, with the reason."""
        settings = config.settings()
        classifier = load_classifier(settings.layout.bundle_dir, load_taxonomy(settings.taxonomy_path))
        rules = settings.sorting_rules(sorting_thresholds)
        corrections = read_corrections(settings.layout.corrections_path)
        tables, embedding = {}, {"files": 0, "seconds": 0.0}
        with HashCache(settings.layout.hash_cache_path) as hashes, \
                FeatureCache(settings.layout.cache_dir, classifier.params) as cache:
            for pack in context.partition_keys:
                version = fingerprint(pack_files(settings.archive_dir, pack))  # before reading: a change is seen next time
                tables[pack], work = index_pack(settings.archive_dir, pack, classifier, rules, corrections, hashes,
                                                cache, progress=ProgressLog(context.log.info, f"pack {pack}"))
                embedding = {"files": embedding["files"] + work["embedded"],
                             "seconds": embedding["seconds"] + work["embedding_seconds"]}
                # Each pack's own materialization event carries its own metadata.
                context.add_asset_metadata(_pack_metadata(context, settings, pack, tables[pack], work, version),
                                           partition_key=pack)
        if classifier.models.embedding_model is not None:  # the accurate mode's cost, for the run's summary
            write_atomic(settings.layout.embedding_cost_path,
                         lambda tmp: Path(tmp).write_text(json.dumps(embedding)))
        return dg.MaterializeResult(value=tables)


def _pack_metadata(context, settings, pack: str, table: pd.DataFrame, work: dict, version: str) -> dict:
    context.log.info(f"pack {pack}: {work['files']} files, {work['hashed']} hashed ({work['files'] - work['hashed']} "
                     f"unchanged), {work['extracted']} decoded, {work['cached']} from the feature cache, "
                     f"{int((table['status'] == 'duplicate').sum())} duplicates skipped")
    path = settings.layout.partition_path("archive_index", pack)
    return {
        "path": dg.MetadataValue.path(str(path)),
        "dagster/row_count": len(table),
        PACK_FINGERPRINT: version,
        **_summary(table),
        **{f"work_{key}": value for key, value in work.items()},
        "folder_disagreements": markdown_table(_disagreements(table)),
        "makers": ", ".join(sorted(set(table["maker"]) - {""})) or "none found",
    }


@dg.asset(group_name="archive", deps=["corrections"], code_version="4", automation_condition=AUTOMATION)
def rebuilt_archive(context: dg.AssetExecutionContext, config: DrumPipelineConfig, archive_index: pd.DataFrame,
                    sorting_thresholds: dict):
    """The sorted mirror at `rebuilt/LABEL/PACK/PATH-IN-PACK` (symlinks by default), made from
    the index alone (the packs of this archive). Idempotent; originals are never touched. Its
    ledger (the value) lists every archive file as placed, duplicate or error."""
    settings = config.settings()
    packs = set(list_packs(settings.archive_dir))
    settings.layout.drop_partitions_except("archive_index", packs)  # the index of a pack that left the archive
    index = archive_index if len(archive_index) else pd.DataFrame(columns=INDEX_COLUMNS)
    ledger, counts = rebuild_from_index(index, packs, settings.archive_dir, settings.layout.rebuilt_dir,
                                        settings.sorting_rules(sorting_thresholds),
                                        settings.link_mode, read_corrections(settings.layout.corrections_path))
    context.log.info(f"rebuilt archive ({settings.link_mode}): " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    per_pack = ledger.groupby(["pack", "status"]).size().unstack(fill_value=0).reset_index()
    summary = {"per_pack": per_pack.to_dict("records"), **counts}
    write_atomic(settings.layout.reports_dir / "rebuilt_archive.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=1, default=int)))
    return dg.MaterializeResult(value=ledger, metadata={
        "path": dg.MetadataValue.path(str(settings.layout.rebuilt_dir)),
        "ledger": dg.MetadataValue.path(str(settings.layout.table_path("rebuilt_archive"))),
        "link_mode": settings.link_mode,
        **counts,
        MIRROR_PACKS: packs_digest(packs),
        **_summary(ledger, settings.layout),
        "per_pack": markdown_table(per_pack),
        "folder_disagreements": markdown_table(_disagreements(index[index["pack"].isin(packs)])),
    })


def _index_with_corrections(settings, index: pd.DataFrame) -> pd.DataFrame:
    """The index rows of this archive's packs, with the user's corrections."""
    if index.empty:
        return index
    packs = set(list_packs(settings.archive_dir))
    return apply_corrections(index[index["pack"].isin(packs)], read_corrections(settings.layout.corrections_path))


@dg.asset(group_name="archive", deps=["corrections"], code_version="3", automation_condition=AUTOMATION)
def review_queue(context: dg.AssetExecutionContext, config: DrumPipelineConfig, archive_index: pd.DataFrame,
                 sorting_thresholds: dict):
    """The doubtful archive files, the likeliest mistakes first: the chance that a sort by sound is
    wrong is learned on the library's held-out split (see sorting_thresholds), and a name that
    claims another class makes a mistake likely. Each says why it is in, with a file:// link to
    the original; correct one with `drum-pipeline correct PATH LABEL`, or by ear with
    `drum-pipeline review --serve`."""
    settings = config.settings()
    queue = review_queue_table(_index_with_corrections(settings, archive_index), settings.archive_dir,
                               settings.sorting_rules(sorting_thresholds),
                               sorting_thresholds.get("mistakes"))
    summary = review_summary_line(queue)
    context.log.info(summary)
    top = queue.head(FIRST_LOOK)
    return dg.MaterializeResult(value=queue, metadata={
        "path": dg.MetadataValue.path(str(settings.layout.table_path("review_queue"))),
        "dagster/row_count": len(queue),
        "summary": summary,
        "review_by_ear": f"run `drum-pipeline review --serve` and open {REVIEW_URL}: hear each file, correct it "
                         "with one key (1-6 the classes, u unsorted, n non_drum, z undo)",
        "queue": markdown_table(top.assign(path=[f"[{p}]({u})" for p, u in zip(top["path"], top["uri"], strict=True)])
                                [["rank", "path", "label", "chance", "why"]], limit=FIRST_LOOK),
    })


@dg.asset(group_name="archive", deps=["corrections"], code_version="1", automation_condition=AUTOMATION)
def folder_report(context: dg.AssetExecutionContext, config: DrumPipelineConfig, archive_index: pd.DataFrame):
    """Every folder of the archive: what its name claims, the class mix its audio says, the maker,
    whether the owner already sorted it (name and audio agree on at least 90% of its files), and
    the suggested class; with how much of the archive was sorted already."""
    settings = config.settings()
    table, summary = folder_report_table(_index_with_corrections(settings, archive_index))
    markdown = f"{folder_summary_line(summary)}.\n\n{table.to_markdown(index=False)}\n"
    write_atomic(settings.layout.reports_dir / "folder_report.md", lambda tmp: Path(tmp).write_text(markdown))
    return dg.MaterializeResult(value=table, metadata={
        "path": dg.MetadataValue.path(str(settings.layout.table_path("folder_report"))),
        "dagster/row_count": len(table),
        "summary": folder_summary_line(summary),
        "presorted_share": dg.MetadataValue.float(float(summary["presorted_share"])),
        "folders": markdown_table(table),
    })
