"""Labels from the library's names, and the curated, grouped training set."""


import dagster as dg
import pandas as pd

from drum_pipeline.archive.corrections import corrected_training_rows, read_corrections
from drum_pipeline.audio.folders import scan_audio_files
from drum_pipeline.audio.hashing import HashCache
from drum_pipeline.defs.metadata import markdown_table
from drum_pipeline.defs.resources import DrumPipelineConfig
from drum_pipeline.defs.shared import AUTOMATION
from drum_pipeline.labels.curation import SPLITS, curate
from drum_pipeline.labels.names import extract_labels
from drum_pipeline.labels.taxonomy import load_taxonomy
from drum_pipeline.progress import ProgressLog


@dg.asset(
    group_name="labels",
    deps=["sample_library", "taxonomy"],
    code_version="1", automation_condition=AUTOMATION,
    check_specs=[dg.AssetCheckSpec("most_drum_files_labelled", asset="label_extraction")],
)
def label_extraction(context: dg.AssetExecutionContext, config: DrumPipelineConfig):
    """Every library file with its fine label, canonical label, the rule that decided and a status
    (labelled / ambiguous / unlabelled / non_drum), from its file name and nearest informative folder."""
    settings = config.settings()
    taxonomy = load_taxonomy(settings.taxonomy_path)
    files = scan_audio_files(settings.library_dir)
    with HashCache(settings.layout.hash_cache_path) as hashes:
        table = extract_labels(files, taxonomy, hashes)
        context.log.info(f"hashed {hashes.misses} files, {hashes.hits} from the cache")

    statuses = table["status"].value_counts()
    labelled = table[table["status"] == "labelled"]
    drum_like = len(table) - int(statuses.get("non_drum", 0))
    coverage = len(labelled) / drum_like if drum_like else 0.0
    return dg.MaterializeResult(
        value=table,
        metadata={
            "path": dg.MetadataValue.path(str(settings.layout.table_path("label_extraction"))),
            "dagster/row_count": len(table),
            "label_coverage": dg.MetadataValue.float(round(coverage, 4)),
            "statuses": markdown_table(statuses.rename_axis("status").reset_index()),
            "decided_by": markdown_table(labelled["source"].value_counts().rename_axis("source").reset_index()),
            "per_class": markdown_table(labelled.groupby("label")["fine_label"].agg(["count", "nunique"]).reset_index()),
            "ambiguous": markdown_table(table.loc[table["status"] == "ambiguous", ["path", "rule"]]),
            "unlabelled": markdown_table(table.loc[table["status"] == "unlabelled", ["path", "rule"]]),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="most_drum_files_labelled",
                passed=coverage >= 0.5,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"label_coverage": round(coverage, 4)},
                description="At least half of the library's drum files get a label from their names.",
            )
        ],
    )


@dg.asset(
    group_name="labels",
    deps=["corrections"],
    code_version="4", automation_condition=AUTOMATION,
    check_specs=[
        dg.AssetCheckSpec("no_hash_in_two_splits", asset="curated_training_set", blocking=True),
        dg.AssetCheckSpec("no_group_in_two_splits", asset="curated_training_set", blocking=True),
        dg.AssetCheckSpec("every_class_in_train", asset="curated_training_set"),
    ],
)
def curated_training_set(context: dg.AssetExecutionContext, config: DrumPipelineConfig,
                         label_extraction: pd.DataFrame):
    """The strictly curated, de-duplicated one-shots with a grouped train / val / test split
    (groups: pack or instrument folder), with the archive files the user corrected. Rejected files
    and their reasons sit beside it (curated_training_set_rejects)."""
    settings = config.settings()
    labels = label_extraction
    corrected = corrected_training_rows(read_corrections(settings.layout.corrections_path), settings.archive_dir)
    if len(corrected):
        context.log.info(f"{len(corrected)} archive files corrected by hand join the training data")
        labels = pd.concat([labels.assign(group=""), corrected], ignore_index=True)
    curated, rejects = curate(labels, settings.library_dir, seed=settings.seed,
                              progress=ProgressLog(context.log.info, "curating"))
    settings.layout.write_table("curated_training_set_rejects", rejects)

    hashes_per_split = curated.groupby("sha256")["split"].nunique()
    groups_per_split = curated.groupby("group")["split"].nunique()
    classes = set(load_taxonomy(settings.taxonomy_path).classes)
    missing_in_train = sorted(classes - set(curated.loc[curated["split"] == "train", "label"]))
    counts = pd.crosstab(curated["label"], curated["split"]).reindex(columns=list(SPLITS), fill_value=0)
    per_class = curated["label"].value_counts()
    return dg.MaterializeResult(
        value=curated,
        metadata={
            "path": dg.MetadataValue.path(str(settings.layout.table_path("curated_training_set"))),
            "dagster/row_count": len(curated),
            "per_class_and_split": markdown_table(counts.reset_index()),
            "groups": curated["group"].nunique(),
            "corrected_archive_files": int((curated["source"] == "correction").sum()),
            "class_imbalance": dg.MetadataValue.float(
                round(float(per_class.max() / per_class.min()), 2) if len(per_class) else 0.0),
            "rejected": len(rejects),
            "rejected_reasons": markdown_table(rejects.loc[rejects["status"] == "rejected", ["path", "reason"]]),
        },
        check_results=[
            dg.AssetCheckResult(check_name="no_hash_in_two_splits", passed=bool((hashes_per_split <= 1).all()),
                                metadata={"hashes_in_two_splits": int((hashes_per_split > 1).sum())}),
            dg.AssetCheckResult(check_name="no_group_in_two_splits", passed=bool((groups_per_split <= 1).all()),
                                metadata={"groups_in_two_splits": int((groups_per_split > 1).sum())}),
            dg.AssetCheckResult(check_name="every_class_in_train", passed=not missing_in_train,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"missing": ", ".join(missing_in_train) or "none"}),
        ],
    )
