"""The `drum-pipeline` command."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from drum_pipeline.config.settings import LINK_MODES, REVIEW_HOST, REVIEW_PORT, Settings
from drum_pipeline.words import counted

if TYPE_CHECKING:
    import pandas as pd


def _run(args: argparse.Namespace) -> int:
    """Check the inputs, then materialize through Dagster what is missing or stale: observe the
    folders, train and evaluate when the library, the taxonomy or the code changed, classify the
    packs that are new or changed, rebuild the sorted mirror; then print a summary. The Dagster
    home ($DAGSTER_HOME, default data/dagster_home) is the one `dagster dev` uses."""
    from drum_pipeline.cli.input_checks import input_problems
    from drum_pipeline.cli.instance import dagster_home
    from drum_pipeline.demo.data import ensure_demo_archive, ensure_demo_library

    accurate = True if args.accurate else None  # None leaves it to DRUM_ACCURATE
    settings = Settings.resolve(args.library, args.archive, args.output, ignore_names=_ignore_names(args),
                                accurate=accurate)
    if settings.accurate:
        from drum_pipeline.audio.embeddings import EmbeddingUnavailable, SoundEmbedder

        try:
            SoundEmbedder()
        except EmbeddingUnavailable as exc:
            print(f"drum-pipeline: {exc}", file=sys.stderr)
            return 2
    for message in (ensure_demo_library(settings.library_dir, settings.library_is_default, settings.seed),
                    ensure_demo_archive(settings.archive_dir, settings.archive_is_default, settings.seed)):
        if message:
            print(f"drum-pipeline: {message}", file=sys.stderr)
    problems = input_problems(settings, _flagged_folders(args))
    for problem in problems:
        print(f"drum-pipeline: {problem}", file=sys.stderr)
    if problems:
        return 2
    home = dagster_home()
    from drum_pipeline.cli.run import StepFailed, pipeline_run_config, run_pipeline
    from drum_pipeline.cli.summary import format_summary, run_summary

    run_config = pipeline_run_config(args.verbose, library_dir=args.library, archive_dir=args.archive,
                                     output_dir=args.output, ignore_names=_ignore_names(args), accurate=accurate)
    try:
        report = run_pipeline(settings, run_config, force=args.force)
    except StepFailed as exc:
        print(f"drum-pipeline: {exc}", file=sys.stderr)
        return 1
    print(f"drum-pipeline: done in {counted(report.runs, 'Dagster run')} (Dagster home {home})", file=sys.stderr)
    summary = {**run_summary(settings), "trained": report.trained, "classified_packs": report.classified,
               "rebuilt": report.rebuilt}
    print(json.dumps(summary, indent=1) if args.format == "json" else format_summary(summary))
    return 0


def _flagged_folders(args: argparse.Namespace) -> set[str]:
    """The input folders (library, archive) that a command-line flag named."""
    from drum_pipeline.cli.input_checks import INPUT_FOLDERS

    return {name for name in INPUT_FOLDERS if getattr(args, name, None)}


def _settings(args: argparse.Namespace, check_folders: bool = True, archive_needed: bool = False) -> Settings:
    """The command's settings. A folder named by a flag must exist, and so must the archive for a
    command that rebuilds the mirror (`archive_needed`: without it, every entry would go);
    otherwise ValueError, which main prints in one line."""
    from drum_pipeline.cli.input_checks import missing_folder

    settings = Settings.resolve(getattr(args, "library", None), getattr(args, "archive", None),
                                getattr(args, "output", None), confidence_threshold=getattr(args, "threshold", None),
                                link_mode=getattr(args, "mode", None), ignore_names=_ignore_names(args))
    if check_folders:
        flagged = _flagged_folders(args)
        for name in sorted(flagged | ({"archive"} if archive_needed else set())):
            if problem := missing_folder(settings, name, name in flagged):
                raise ValueError(problem)
    return settings


def _ignore_names(args: argparse.Namespace) -> bool | None:
    """True when --ignore-names is given; None leaves it to DRUM_IGNORE_NAMES."""
    return True if getattr(args, "ignore_names", False) else None


def _thresholds(settings: Settings) -> dict:
    """The sorting_thresholds asset's value in the output folder ({} before the first training)."""
    return settings.layout.read_value("sorting_thresholds") or {}


def _export_bundle(settings: Settings, target: Path) -> Path:
    """Export the output folder's deployed models, known sounds and thresholds as the inference
    bundle in `target` (needs TensorFlow); RuntimeError before the first training."""
    from drum_pipeline.archive.index import export_inference_bundle
    from drum_pipeline.labels.taxonomy import load_taxonomy
    from drum_pipeline.models.bundle import bundle_sources

    layout = settings.layout
    spectrograms, _ = layout.bundle_tables
    if not spectrograms.exists():
        raise RuntimeError(f"no trained models in {settings.output_dir}: run `drum-pipeline run` first")
    return export_inference_bundle(layout.models_dir, layout.read_table("spectrogram_features"),
                                   bundle_sources(layout.models_dir, *layout.bundle_tables),
                                   load_taxonomy(settings.taxonomy_path), _thresholds(settings), target)


def current_bundle(settings: Settings, given: str | None = None) -> Path:
    """The inference bundle to classify with: `given`, or the output folder's, exported first when
    missing or older than the deployed models (that needs TensorFlow)."""
    from drum_pipeline.models.bundle import is_current

    if given:
        return Path(given).expanduser()
    layout = settings.layout
    if not is_current(layout.bundle_dir, layout.models_dir, *layout.bundle_tables):
        print(f"drum-pipeline: exporting the deployed models to {layout.bundle_dir} (the bundle is missing or older "
              "than them)", file=sys.stderr)
        _export_bundle(settings, layout.bundle_dir)
    return layout.bundle_dir


def _print_table(frame, fmt: str) -> None:
    # pandas escapes every "/" in JSON; its records go through json.dumps instead
    records = json.loads(frame.to_json(orient="records", force_ascii=False)) if fmt != "table" else []
    if fmt == "json":
        print(json.dumps(records, indent=1, ensure_ascii=False))
    elif fmt == "jsonl":
        for record in records:
            print(json.dumps(record, ensure_ascii=False))
    else:
        print(frame.to_string(index=False) if len(frame) else "(nothing)")


def _classify(args: argparse.Namespace) -> int:
    """Classify audio files or folders with the deployed models (nothing is written but caches)."""
    from tqdm import tqdm

    from drum_pipeline.archive.index import classify_pack, load_classifier
    from drum_pipeline.audio.feature_cache import FeatureCache
    from drum_pipeline.audio.folders import AudioFile, scan_audio_files
    from drum_pipeline.audio.hashing import HashCache
    from drum_pipeline.labels.taxonomy import load_taxonomy
    from drum_pipeline.models.bundle import bundle_thresholds

    files, missing = [], []
    for given in args.paths:
        path = Path(given).expanduser()
        if path.is_dir():
            files += [AudioFile(f.path, f"{given.rstrip('/')}/{f.relpath}", f.size, f.mtime_ns)
                      for f in scan_audio_files(path)]
        elif path.exists() or path.is_symlink():
            stat = path.stat() if path.exists() else None
            files.append(AudioFile(path, given, stat.st_size if stat else -1, stat.st_mtime_ns if stat else 0))
        else:
            missing.append(given)
    for given in missing:
        print(f"drum-pipeline: {given}: no such file or folder", file=sys.stderr)
    if not files:
        print("drum-pipeline: no audio files to classify", file=sys.stderr)
        return 1
    settings = _settings(args)
    bundle = current_bundle(settings, args.bundle)
    classifier = load_classifier(bundle, load_taxonomy(settings.taxonomy_path))
    bar = tqdm(total=len(files), unit="file", disable=len(files) < 200 or not sys.stderr.isatty(), file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    with HashCache(settings.layout.hash_cache_path) as hashes, FeatureCache(settings.layout.cache_dir,
                                                                             classifier.params) as cache:
        rules = settings.sorting_rules(bundle_thresholds(bundle))
        table, _ = classify_pack(files, "cli", hashes, cache, classifier, rules, progress=progress)
    bar.close()
    columns = ["path", "status", "label", "fine_label", "confidence", "reason", "error"]
    shown = table[columns] if args.format == "table" else table.drop(columns=["pack"])
    _print_table(shown.round({"confidence": 3}), args.format)
    failed = int((table["status"] == "error").sum())
    if failed and args.format == "table":
        print(f"{failed} of {counted(len(table), 'file')} could not be read (status error)", file=sys.stderr)
    return 0 if failed < len(table) and not missing else 1


def _export(args: argparse.Namespace) -> int:
    """Export the deployed models, the label mapping, the feature parameters and the known sounds
    as the inference bundle (LiteRT), which classifies without TensorFlow."""
    import time

    from drum_pipeline.archive.index import load_classifier
    from drum_pipeline.labels.taxonomy import load_taxonomy
    from drum_pipeline.models.bundle import bundle_megabytes

    settings = _settings(args)
    try:
        target = _export_bundle(settings, Path(args.to).expanduser() if args.to else settings.layout.bundle_dir)
    except RuntimeError as exc:
        print(f"drum-pipeline: {exc}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    load_classifier(target, load_taxonomy(settings.taxonomy_path))
    print(f"inference bundle in {target} ({bundle_megabytes(target):.1f} MB, "
          f"loads in {time.perf_counter() - start:.2f} s)")
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    """Regenerate the sorted mirror from the archive index alone (no models, no audio)."""
    from drum_pipeline.archive.corrections import read_corrections
    from drum_pipeline.archive.index import INDEX_COLUMNS, list_packs
    from drum_pipeline.archive.rebuild import planned_changes, rebuild_from_index
    from drum_pipeline.cli.summary import archive_counts

    settings = _settings(args, archive_needed=True)
    index = settings.layout.read_partitions("archive_index", INDEX_COLUMNS)
    if index.empty and not settings.layout.table_path("rebuilt_archive").exists():
        print(f"drum-pipeline: no archive index in {settings.output_dir}: run `drum-pipeline run` first",
              file=sys.stderr)
        return 1
    if not args.dry_run:
        counts = _run_rebuild(args, settings)
        print(f"rebuilt {settings.layout.rebuilt_dir} ({settings.link_mode}): "
              + ", ".join(f"{counts[key]} {key}" for key in ("created", "unchanged", "removed", "blocked")))
        return 0
    ledger, _ = rebuild_from_index(index, set(list_packs(settings.archive_dir)), settings.archive_dir,
                                   settings.layout.rebuilt_dir,
                                   settings.sorting_rules(_thresholds(settings)),
                                   settings.link_mode, read_corrections(settings.layout.corrections_path), dry_run=True)
    changes = planned_changes(ledger, settings.archive_dir, settings.layout.rebuilt_dir, settings.link_mode)
    _print_table(changes, args.format)
    counts = archive_counts(ledger)
    print(f"plan: {int((changes['change'] == 'create').sum())} to create, "
          f"{int((changes['change'] == 'remove').sum())} to remove; "
          f"{sum(counts['classes'].values()) + counts['unsorted']} placed ({settings.link_mode}), "
          f"{counts['unsorted']} of them unsorted, {counted(counts['duplicates'], 'duplicate')}, "
          f"{counted(counts['errors'], 'error')}; nothing changed (--dry-run)", file=sys.stderr)
    return 0


def _run_rebuild(args: argparse.Namespace, settings: Settings) -> dict:
    """Run the rebuild of the mirror and its reports through Dagster, on the CLI's Dagster home, so
    that the catalog matches the files; returns the rebuild's counts."""
    from drum_pipeline.cli.instance import dagster_home
    from drum_pipeline.cli.run import pipeline_run_config, run_jobs

    dagster_home()
    run_config = pipeline_run_config(
        False, "WARNING", archive_dir=getattr(args, "archive", None), output_dir=getattr(args, "output", None),
        link_mode=getattr(args, "mode", None), confidence_threshold=getattr(args, "threshold", None),
        ignore_names=_ignore_names(args))
    run_jobs(run_config, [("rebuild_archive", {})])
    return json.loads((settings.layout.reports_dir / "rebuilt_archive.json").read_text())


def _validate(args: argparse.Namespace) -> int:
    """Check the folders, the taxonomy, the models and their label mappings, and the labels of
    your corrections file; one line per problem."""
    from drum_pipeline.audio.features import FeatureParams
    from drum_pipeline.cli.input_checks import input_problems
    from drum_pipeline.labels.taxonomy import TaxonomyError, load_taxonomy
    from drum_pipeline.models.inference import CLASSIFIERS
    from drum_pipeline.models.store import (
        DEPLOYED,
        ModelMismatchError,
        model_dir,
        read_mapping,
    )

    settings = _settings(args, check_folders=False)  # a missing folder is one of the problems listed
    problems = input_problems(settings, _flagged_folders(args))
    try:
        classes = list(load_taxonomy(settings.taxonomy_path).classes)
    except TaxonomyError:
        classes = None  # input_problems named it
    if classes:
        from drum_pipeline.archive.corrections import corrections_problems

        problems += corrections_problems(settings.layout.corrections_path, load_taxonomy(settings.taxonomy_path))
        for name in (*CLASSIFIERS, "model2_encoder"):
            try:
                read_mapping(model_dir(settings.layout.models_dir, name, DEPLOYED), classes, FeatureParams())
            except ModelMismatchError as exc:
                problems.append(str(exc))
    for problem in problems:
        print(f"problem: {problem}")
    print("all good" if not problems else counted(len(problems), "problem"), file=sys.stderr)
    return 0 if not problems else 1


def _stats(args: argparse.Namespace) -> int:
    """The library and the archive at a glance, from the Parquet tables."""
    import pandas as pd

    from drum_pipeline.cli.summary import archive_counts

    settings = _settings(args)
    layout = settings.layout
    if args.folders:
        return _folder_stats(settings)
    shown = False
    if layout.table_path("label_extraction").exists():
        labels = layout.read_table("label_extraction")
        print(f"tables in {layout.root / 'tables'}")
        print(f"library {settings.library_dir}: {counted(len(labels), 'file')}")
        print(pd.crosstab(labels["label"].replace("", "-"), labels["status"]).to_string(), end="\n\n")
        shown = True
    ledger_path = layout.table_path("rebuilt_archive")
    if ledger_path.exists():
        ledger = pd.read_parquet(ledger_path)
        counts = archive_counts(ledger)  # as the run's summary counts them
        print(f"archive {settings.archive_dir}: {counted(counts['files'], 'file')}, "
              f"{counted(counts['duplicates'], 'duplicate')}, {counted(counts['errors'], 'error')}, "
              f"{counts['unsorted']} unsorted")
        placed = ledger[ledger["status"] == "placed"]
        if len(placed):
            print(pd.crosstab(placed["pack"], placed["label"], margins=True, margins_name="all").to_string())
        shown = True
    if not shown:
        print(f"drum-pipeline: no tables in {layout.root / 'tables'}: run `drum-pipeline run` first, "
              "or name the output folder with --output", file=sys.stderr)
        return 1
    return 0


def _correct(args: argparse.Namespace) -> int:
    """Give an archive file (or its entry in the rebuilt mirror) the right label by hand: a class, a
    fine label, or non_drum / unsorted. The index and the rebuilt mirror change at once (no
    decoding, no retraining); the next retrain learns from a corrected drum.
    The correction is kept in DRUM_OUTPUT_DIR/corrections.csv by content hash: it survives renames."""
    settings = _settings(args, archive_needed=True)
    correction, _ = correct_file(args, settings, args.path, args.label)
    layout = settings.layout
    print(f"{correction['path']}: {correction['label']} (the models said {correction['model_label'] or 'nothing'}); "
          f"index and {layout.rebuilt_dir} updated, kept in {layout.corrections_path}")
    return 0


@dataclass(frozen=True)
class CorrectionUndo:
    """What a correction replaced: the file's corrections line before it (None: there was none, or
    no file at all when `had_file` is false) and its index rows before it, in every pack."""
    sha256: str
    previous: dict | None
    had_file: bool
    rows: pd.DataFrame


def correct_file(args: argparse.Namespace, settings: Settings, given: str, label: str) -> tuple[dict, CorrectionUndo]:
    """The one way a correction is made (`drum-pipeline correct`, the review page): record it in the
    corrections file, rewrite the index partitions of the file's packs, record them in Dagster's
    catalog and rebuild the mirror through the `rebuild_archive` job. Returns the correction and
    what undo_correction needs; CorrectionError (nothing changed) for a bad label or path."""
    from drum_pipeline.archive.corrections import add_correction, apply_corrections, read_corrections
    from drum_pipeline.labels.taxonomy import load_taxonomy

    layout = settings.layout
    index = layout.read_partitions("archive_index")
    had_file = layout.corrections_path.exists()
    before = read_corrections(layout.corrections_path)
    correction = add_correction(layout.corrections_path, index, settings.archive_dir,
                                load_taxonomy(settings.taxonomy_path), given, label,
                                layout.rebuilt_dir, layout.table_path("rebuilt_archive"))
    previous = before[before["sha256"] == correction["sha256"]].to_dict("records")
    rows = index[index["sha256"] == correction["sha256"]]
    corrections = read_corrections(layout.corrections_path)
    _publish_index(args, settings, {pack: apply_corrections(index[index["pack"] == pack], corrections)
                                    for pack in sorted(set(rows["pack"]))})
    return correction, CorrectionUndo(correction["sha256"], previous[-1] if previous else None, had_file, rows)


def undo_correction(args: argparse.Namespace, settings: Settings, undo: CorrectionUndo) -> None:
    """Put back what a correction of correct_file replaced: its corrections line (or none), its index
    rows, and the mirror (rebuilt through Dagster as correct_file does)."""
    from drum_pipeline.archive.corrections import read_corrections, restore_correction, restore_rows

    layout = settings.layout
    restore_correction(layout.corrections_path, undo.sha256, undo.previous)
    if not undo.had_file and read_corrections(layout.corrections_path).empty \
            and len(layout.corrections_path.read_bytes().splitlines()) <= 1:
        layout.corrections_path.unlink()  # the correction made the file: it goes with it
    index = layout.read_partitions("archive_index")
    _publish_index(args, settings, {pack: restore_rows(index[index["pack"] == pack], undo.rows)
                                    for pack in sorted(set(undo.rows["pack"]))})


def _publish_index(args: argparse.Namespace, settings: Settings, partitions: dict) -> None:
    """Write the index partitions changed by hand (pack: table), record them in Dagster's catalog
    (no decoding, no models), then rebuild the mirror and its reports through Dagster."""
    import dagster as dg

    from drum_pipeline.cli.instance import dagster_home
    from drum_pipeline.defs.automation.freshness import report_corrected_packs

    layout = settings.layout
    for pack, table in partitions.items():
        layout.write_partition("archive_index", pack, table)
    dagster_home()
    with dg.DagsterInstance.get() as instance:
        report_corrected_packs(instance, list(partitions), lambda pack: layout.partition_path("archive_index", pack))
    _run_rebuild(args, settings)


def current_review_queue(settings: Settings) -> pd.DataFrame:
    """The review_queue table as of now (the index with the corrections file applied), best first;
    RuntimeError when there is no archive index yet."""
    from drum_pipeline.archive.corrections import apply_corrections, read_corrections
    from drum_pipeline.archive.reports import review_queue

    index = settings.layout.read_partitions("archive_index")
    if index.empty:
        raise RuntimeError("no archive index yet: run `drum-pipeline run` first")
    thresholds = _thresholds(settings)
    return review_queue(apply_corrections(index, read_corrections(settings.layout.corrections_path)),
                        settings.archive_dir, settings.sorting_rules(thresholds), thresholds.get("mistakes"))


def _review(args: argparse.Namespace) -> int:
    """The doubtful archive files (the review_queue table), the likeliest mistakes first, each
    with the chance its sort is wrong and why it is in. With --serve, a page on this machine to
    review them by ear and correct them with one key."""
    import pandas as pd

    from drum_pipeline.archive.reports import review_summary_line

    settings = _settings(args)
    if args.serve:
        from drum_pipeline.cli.review_page import serve

        return serve(args, settings, args.port)
    queue = current_review_queue(settings)
    shown = queue.head(args.count)
    if args.format == "table":
        shown = shown[["rank", "path", "label", "chance", "why"]]
        with pd.option_context("display.max_colwidth", 80, "display.width", 200):
            _print_table(shown, args.format)
        print(f"{review_summary_line(queue, args.count)}; correct one with `drum-pipeline correct PATH LABEL` "
              "(or by ear: `drum-pipeline review --serve`)", file=sys.stderr)
    else:
        _print_table(shown, args.format)
    return 0


def _folder_stats(settings: Settings) -> int:
    """The folder report: per folder what its name claims, what its audio says, and whether it is sorted."""
    import pandas as pd

    from drum_pipeline.archive.corrections import apply_corrections, read_corrections
    from drum_pipeline.archive.reports import folder_report, folder_summary_line

    index = settings.layout.read_partitions("archive_index")
    if index.empty:
        print("drum-pipeline: no archive index yet: run `drum-pipeline run` first", file=sys.stderr)
        return 1
    table, summary = folder_report(apply_corrections(index, read_corrections(settings.layout.corrections_path)))
    with pd.option_context("display.max_colwidth", 50, "display.width", 250):
        print(table.drop(columns=["pack"]).to_string(index=False))
    print(f"\n{folder_summary_line(summary)}")
    return 0


def _similar(args: argparse.Namespace) -> int:
    """The archive's nearest sounds to a file, by Model 2's embedding."""
    from drum_pipeline.archive.index import INDEX_COLUMNS, load_classifier, similar_sounds
    from drum_pipeline.audio.feature_cache import FeatureCache
    from drum_pipeline.audio.features import file_logmel
    from drum_pipeline.audio.loader import AudioLoadError
    from drum_pipeline.labels.taxonomy import load_taxonomy

    settings = _settings(args)
    path = Path(args.file).expanduser()
    if path.is_dir():
        print(f"drum-pipeline: {args.file} is a folder: give one file; to find sounds like a folder's, "
              "run `similar` on each of its files (`classify FOLDER` labels a whole folder)", file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"drum-pipeline: {args.file}: no such file", file=sys.stderr)
        return 2
    classifier = load_classifier(current_bundle(settings), load_taxonomy(settings.taxonomy_path))
    params = classifier.params
    try:
        logmel = file_logmel(path, params)
    except AudioLoadError as exc:
        print(f"drum-pipeline: {args.file}: {exc}", file=sys.stderr)
        return 1
    index = settings.layout.read_partitions("archive_index", INDEX_COLUMNS)
    query = path.resolve()
    index = index[index["path"].map(lambda relpath: (settings.archive_dir / relpath).resolve() != query)]
    if index.empty:
        print(f"drum-pipeline: no other archive file in the index of {settings.output_dir}: "
              "run `drum-pipeline run` first", file=sys.stderr)
        return 1
    with FeatureCache(settings.layout.cache_dir, params) as cache:
        _print_table(similar_sounds(classifier, cache, index, logmel, args.count), args.format)
    return 0


def _bench(args: argparse.Namespace) -> int:
    """Measure the decode limit, a naive librosa loop, the pipeline's archive path, re-scans and
    peak memory on the same files; prints a table and writes bench.json."""
    from drum_pipeline.cli.bench import format_results, run_benchmark

    if (args.files is None) == (args.archive is None):
        print("drum-pipeline: give --files N (a synthesized archive) or --archive DIR", file=sys.stderr)
        return 2
    results = run_benchmark(Path(args.work_dir), _settings(args), files=args.files,
                            archive=Path(args.archive).expanduser() if args.archive else None,
                            peer_sample=args.peer_sample, memory_sizes=tuple(args.memory),
                            runs=args.runs, log=lambda line: print(line, file=sys.stderr))
    print(format_results(results))
    print(f"(written to {Path(args.work_dir) / 'bench.json'})", file=sys.stderr)
    return 0


def _ui(args: argparse.Namespace) -> int:
    """Start Dagster's UI and daemon (`dagster dev`) on the Dagster home `drum-pipeline run` uses,
    so the UI shows what the CLI did and the sensors repeat nothing; beside it the review page,
    which also serves the pictures of the UI's metadata."""
    import subprocess

    from drum_pipeline.cli.instance import dagster_home

    home = dagster_home()
    target = ["-w", "workspace.yaml"] if Path("workspace.yaml").exists() else ["-m", "drum_pipeline.definitions"]
    print(f"drum-pipeline: dagster dev with DAGSTER_HOME={home}", file=sys.stderr)
    page = subprocess.Popen([sys.executable, "-m", "drum_pipeline.cli", "review", "--serve"])
    hush = "ignore:Function `dev_command` is superseded"  # dagster 1.13 points at `dg dev`, which needs a dg project
    try:
        return subprocess.call([sys.executable, "-W", hush, "-m", "dagster", "dev", *target, *args.dagster_args])
    except KeyboardInterrupt:
        return 0
    finally:
        page.terminate()
        page.wait()


def _demo(args: argparse.Namespace) -> int:
    """(Re)generate the demo library and archive."""
    from drum_pipeline.demo.data import make_demo_archive, make_demo_library

    target = Path(args.into).resolve()
    library = make_demo_library(target / "library", seed=args.seed, scale=args.scale)
    archive = make_demo_archive(target / "archive", seed=args.seed, scale=args.scale)
    print(f"demo library: {counted(len(library), 'file')} in {target / 'library'}")
    print(f"demo archive: {counted(len(archive), 'file')} in {target / 'archive'}")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("drum-pipeline")
    except PackageNotFoundError:
        return "unknown (not installed)"


IGNORE_NAMES_HELP = "sort the archive by sound alone, not by its files' names (default: $DRUM_IGNORE_NAMES)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drum-pipeline",
        description="Sort a drum sample archive by sound, learning from your labelled library.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="materialize the whole pipeline (demo data when no library is given)",
        description=_run.__doc__,
        epilog="example: DRUM_ARCHIVE_DIR=~/Samples/Unsorted drum-pipeline run",
    )
    run.add_argument("--library", help="labelled library folder (default: $DRUM_LIBRARY_DIR or data/library)")
    run.add_argument("--archive", help="archive folder to sort (default: $DRUM_ARCHIVE_DIR or data/archive)")
    run.add_argument("--output", help="output folder (default: $DRUM_OUTPUT_DIR or data/output)")
    run.add_argument("--force", action="store_true", help="materialize everything again (retrain, reclassify)")
    run.add_argument("--ignore-names", action="store_true", help=IGNORE_NAMES_HELP)
    run.add_argument("--accurate", action="store_true",
                     help="add a pretrained sound embedding (aisfx) to the ensemble: about 1 point of macro-F1 on "
                          "unheard kits, about 45 ms a new file, needs torch (default: $DRUM_ACCURATE)")
    run.add_argument("-v", "--verbose", action="store_true", help="show every Dagster and TensorFlow log line")
    run.add_argument("--json", dest="format", action="store_const", const="json", default="text",
                     help="the closing summary as JSON")
    run.set_defaults(handler=_run)

    ui = commands.add_parser("ui", help="start Dagster's UI on the Dagster home the CLI uses", description=_ui.__doc__,
                             epilog="example: drum-pipeline ui --port 3001")
    ui.set_defaults(handler=_ui)  # other arguments are passed on to `dagster dev`

    demo = commands.add_parser(
        "demo",
        help="(re)generate the synthesized demo library and archive",
        description=_demo.__doc__,
        epilog="example: drum-pipeline demo --into data",
    )
    demo.add_argument("--into", default="data", help="folder that receives library/ and archive/ (default: data)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    demo.add_argument("--scale", type=float, default=1.0, help="files per label, relative to the default (default: 1.0)")
    demo.set_defaults(handler=_demo)

    def command(name, handler, help_text, example, output=True, formats=True):
        sub = commands.add_parser(name, help=help_text, description=handler.__doc__, epilog=f"example: {example}")
        if output:
            sub.add_argument("--output", help="output folder (default: $DRUM_OUTPUT_DIR or data/output)")
        if formats:
            group = sub.add_mutually_exclusive_group()
            group.add_argument("--json", dest="format", action="store_const", const="json", help="JSON array")
            group.add_argument("--jsonl", dest="format", action="store_const", const="jsonl", help="JSON lines")
            sub.set_defaults(format="table")
        sub.set_defaults(handler=handler)
        return sub

    classify = command("classify", _classify, "classify files or folders with the deployed models",
                       "drum-pipeline classify ~/Downloads/hits --jsonl")
    classify.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders")
    classify.add_argument("--ignore-names", action="store_true", help=IGNORE_NAMES_HELP)
    classify.add_argument("--threshold", type=float,
                          help="confidence under which a file is unsorted (default: the calibrated one)")
    classify.add_argument("--bundle", metavar="DIR", help="the inference bundle to classify with (default: the output "
                          "folder's models/bundle, exported first when missing or older than the deployed models)")

    export = command("export", _export, "export the deployed models as the inference bundle (no TensorFlow to classify)",
                     "drum-pipeline export --to /mnt/share/drum-bundle", formats=False)
    export.add_argument("--to", metavar="DIR", help="where the bundle goes (default: models/bundle in the output folder)")

    rebuild = command("rebuild", _rebuild, "regenerate the sorted mirror from the index",
                      "drum-pipeline rebuild --mode copy --threshold 0.7 --dry-run")
    rebuild.add_argument("--archive", help="archive folder (default: $DRUM_ARCHIVE_DIR or data/archive)")
    rebuild.add_argument("--mode", choices=LINK_MODES, help="how entries point at the originals")
    rebuild.add_argument("--threshold", type=float, help="confidence under which a file is unsorted")
    rebuild.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    rebuild.add_argument("--ignore-names", action="store_true", help=IGNORE_NAMES_HELP)

    validate = command("validate", _validate, "check folders, taxonomy, models and label mappings",
                       "drum-pipeline validate", formats=False)
    validate.add_argument("--library", help="labelled library folder")
    validate.add_argument("--archive", help="archive folder")

    stats = command("stats", _stats, "the library and the archive at a glance", "drum-pipeline stats", formats=False)
    stats.add_argument("--library", help="labelled library folder")
    stats.add_argument("--archive", help="archive folder")
    stats.add_argument("--folders", action="store_true",
                       help="the folder report: per folder its name's claim, its audio, whether it is pre-sorted")

    correct = command("correct", _correct, "label an archive file by hand (index and mirror at once; retrain learns)",
                      "drum-pipeline correct 'Downloads/untitled folder/Audio 12.flac' snare", formats=False)
    correct.add_argument("path", metavar="PATH", help="an archive file (absolute, or relative to here or to the archive), "
                         "or its entry in the rebuilt mirror")
    correct.add_argument("label", metavar="LABEL", help="a class (kick, snare, ...), a fine label of the taxonomy, "
                         "or non_drum / unsorted")
    correct.add_argument("--archive", help="archive folder (default: $DRUM_ARCHIVE_DIR or data/archive)")
    correct.add_argument("--mode", choices=LINK_MODES, help="how entries point at the originals")

    review = command("review", _review, "the archive files most worth a look, for correction",
                     "drum-pipeline review -n 20")
    review.add_argument("-n", "--count", type=int, default=50, help="how many (default: 50)")
    review.add_argument("--archive", help="archive folder (for the file:// links)")
    review.add_argument("--ignore-names", action="store_true", help=IGNORE_NAMES_HELP)
    review.add_argument("--serve", action="store_true",
                        help=f"serve a page to review the queue by ear and correct it by key (http://{REVIEW_HOST}:PORT)")
    review.add_argument("--port", type=int, default=REVIEW_PORT, help=f"the page's port (default: {REVIEW_PORT})")

    bench = command("bench", _bench, "measure throughput, re-scans and memory against the decode limit",
                    "drum-pipeline bench --files 20000 --memory 1000 20000", formats=False)
    bench.add_argument("--files", type=int, help="synthesize an archive of N one-shots")
    bench.add_argument("--archive", help="measure this folder instead")
    bench.add_argument("--work-dir", default="data/bench", help="where the archive and caches go (default: data/bench)")
    bench.add_argument("--peer-sample", type=int, default=1000, help="files for the slow librosa loop (default: 1000)")
    bench.add_argument("--memory", type=int, nargs="*", default=[], metavar="N",
                       help="also measure peak memory on synthesized archives of these sizes")
    bench.add_argument("--runs", type=int, default=0, metavar="PACKS",
                       help="also run this many packs as Dagster runs, with the default executor and on a "
                            "two-worker Dask cluster on this machine")

    similar = command("similar", _similar, "the archive's nearest sounds to a file (Model 2's embedding)",
                      "drum-pipeline similar 'Kicks/VEH Kick 012.wav' -n 5")
    similar.add_argument("file", help="an audio file")
    similar.add_argument("-n", "--count", type=int, default=10, help="how many (default: 10)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "ui":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.dagster_args = extra
    if args.command in ("run", "classify", "similar", "bench", "export", "correct", "rebuild") \
            and not getattr(args, "verbose", False):
        from drum_pipeline.cli.quiet import hide_native_logs

        hide_native_logs()
    try:
        return args.handler(args)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"drum-pipeline: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
