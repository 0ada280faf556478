"""The `drum-pipeline` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from drum_pipeline.settings import Settings


def _run(args: argparse.Namespace) -> int:
    """Observe the input folders and materialize every asset, through Dagster: the main job, then
    the archive index of every pack, then the rebuilt archive."""
    import dagster as dg

    from drum_pipeline.definitions import defs

    resource_config = {
        key: value
        for key, value in {
            "library_dir": args.library,
            "archive_dir": args.archive,
            "output_dir": args.output,
            "link_mode": getattr(args, "mode", None),
        }.items()
        if value
    }
    run_config = {"resources": {"config": {"config": resource_config}}} if resource_config else None
    settings = Settings.resolve(args.library, args.archive, args.output)
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    with instance:
        if not _succeeded(defs.resolve_job_def("drum_pipeline").execute_in_process(
                instance=instance, run_config=run_config, raise_on_error=False)):
            return 1
        packs = _current_packs(instance, settings)
        failed = [pack for pack in packs if not _succeeded(defs.resolve_job_def("archive_index").execute_in_process(
            instance=instance, run_config=run_config, partition_key=pack, raise_on_error=False))]
        if not _succeeded(defs.resolve_job_def("rebuild_archive").execute_in_process(
                instance=instance, run_config=run_config, raise_on_error=False)):
            return 1
    if failed:
        print(f"drum-pipeline: {len(failed)} of {len(packs)} packs failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"drum-pipeline: all assets materialized ({len(packs)} packs); outputs in {settings.output_dir}")
    return 0


def _current_packs(instance, settings: Settings) -> list[str]:
    """The registered packs, less those that left the archive (their partitions are dropped)."""
    from drum_pipeline.archive import list_packs
    from drum_pipeline.assets.partitions import archive_packs

    registered = instance.get_dynamic_partitions(archive_packs.name)
    present = set(list_packs(settings.archive_dir))
    for gone in sorted(set(registered) - present):
        instance.delete_dynamic_partition(archive_packs.name, gone)
        settings.layout.partition_path("archive_index", gone).unlink(missing_ok=True)
        settings.layout.partition_path("archive_index", gone, ".jsonl").unlink(missing_ok=True)
    return sorted(present & set(registered))


def _succeeded(result) -> bool:
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            print(f"drum-pipeline: step {event.step_key} failed: {error.message.strip()}", file=sys.stderr)
    return result.success


def _demo(args: argparse.Namespace) -> int:
    """(Re)generate the demo library and archive."""
    from drum_pipeline.demo import make_demo_archive, make_demo_library

    target = Path(args.into).resolve()
    library = make_demo_library(target / "library", seed=args.seed, scale=args.scale)
    archive = make_demo_archive(target / "archive", seed=args.seed, scale=args.scale)
    print(f"demo library: {len(library)} files in {target / 'library'}")
    print(f"demo archive: {len(archive)} files in {target / 'archive'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drum-pipeline",
        description="Sort a drum sample archive by sound, learning from your labelled library.",
    )
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
    run.set_defaults(handler=_run)

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        print(f"drum-pipeline: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
