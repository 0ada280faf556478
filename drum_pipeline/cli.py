"""The `drum-pipeline` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from drum_pipeline.settings import Settings


def _run(args: argparse.Namespace) -> int:
    """Observe the input folders and materialize every asset, through Dagster."""
    import dagster as dg

    from drum_pipeline.definitions import defs

    resource_config = {
        key: value
        for key, value in {
            "library_dir": args.library,
            "archive_dir": args.archive,
            "output_dir": args.output,
        }.items()
        if value
    }
    run_config = {"resources": {"config": {"config": resource_config}}} if resource_config else None
    settings = Settings.resolve(args.library, args.archive, args.output)
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    with instance:
        result = defs.resolve_job_def("drum_pipeline").execute_in_process(
            instance=instance, run_config=run_config, raise_on_error=False
        )
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                error = event.step_failure_data.error
                print(f"drum-pipeline: step {event.step_key} failed: {error.message.strip()}", file=sys.stderr)
        return 1
    print(f"drum-pipeline: all assets materialized; outputs in {settings.output_dir}")
    return 0


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
