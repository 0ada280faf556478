"""`drum-pipeline run` through Dagster, incrementally: observe the input folders, then materialize
only what is missing or stale (as the UI shows it), on the persistent Dagster home."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from drum_pipeline.config.settings import Settings
from drum_pipeline.words import counted


class StepFailed(RuntimeError):
    """A step of a run failed; the message is its root cause, in one line."""


@dataclass
class RunReport:
    trained: list[str] = field(default_factory=list)  # the training job's assets materialized
    classified: list[str] = field(default_factory=list)  # packs classified
    rebuilt: bool = False
    packs: int = 0
    runs: int = 0


def run_pipeline(settings: Settings, run_config: dict, force: bool = False,
                 say: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> RunReport:
    """Observe the folders; train and evaluate what is missing or stale; register the archive's new
    packs and classify those that are new, changed or stale (many per run); rebuild the mirror if
    its index changed. `force` materializes everything again. Raises StepFailed."""
    from drum_pipeline.archive.index import pack_fingerprints
    from drum_pipeline.definitions import defs as load_definitions
    from drum_pipeline.defs.archive.assets import MAX_PACKS_PER_RUN
    from drum_pipeline.defs.automation.freshness import (
        accurate_mode_changed,
        mirror_packs_changed,
        packs_to_classify,
        partition_spans,
        range_tags,
        stale_assets,
    )
    from drum_pipeline.defs.automation.jobs import ARCHIVE_JOB
    from drum_pipeline.defs.automation.sensors import pack_partition_requests
    from drum_pipeline.defs.shared import archive_packs

    report = RunReport()
    defs = load_definitions()
    output = settings.output_dir

    def execute(job_name: str, what: str, **kwargs) -> None:
        say(f"drum-pipeline: {what}")
        report.runs += 1
        execute_job(defs, instance, job_name, run_config, **kwargs)

    with dg.DagsterInstance.get() as instance:
        execute("observe_folders", "observing the library and the archive")
        graph = defs.resolve_asset_graph()
        training = defs.resolve_job_def("drum_pipeline")
        training_keys = [key for key in training.asset_layer.executable_asset_keys if graph.get(key).is_materializable]
        stale = training_keys if force else stale_assets(defs, instance, training_keys, output)
        stale = list(dict.fromkeys([*stale, *accurate_mode_changed(instance, settings.accurate)]))
        if stale:
            selection = (dg.AssetSelection.assets(*stale).downstream() & dg.AssetSelection.assets(*training_keys))
            keys = sorted(selection.resolve(graph), key=lambda key: key.to_user_string())
            report.trained = [key.to_user_string() for key in keys]
            execute("drum_pipeline", f"materializing {counted(len(keys), 'stale or missing asset')}: "
                    + ", ".join(report.trained), asset_selection=keys)
        else:
            say("drum-pipeline: the models are up to date (nothing to train)")

        fingerprints = pack_fingerprints(settings.archive_dir)
        registered = instance.get_dynamic_partitions(archive_packs.name)
        new, _, _ = pack_partition_requests(registered, fingerprints)
        if new:  # registered as the archive sensor would; packs of other archives in this home are kept
            instance.add_dynamic_partitions(archive_packs.name, new)
        order = [pack for pack in instance.get_dynamic_partitions(archive_packs.name) if pack in fingerprints]
        report.packs = len(order)
        current = {pack: fingerprints[pack] for pack in order}
        report.classified = order if force else packs_to_classify(defs, instance, current, output)
        for span in partition_spans(order, report.classified, MAX_PACKS_PER_RUN):
            execute(ARCHIVE_JOB, f"classifying {len(span)} packs ({span[0]} ... {span[-1]})" if len(span) > 1
                    else f"classifying pack {span[0]}", tags=range_tags(span[0], span[-1]))
        if not report.classified:
            say(f"drum-pipeline: {counted(len(order), 'pack is', 'packs are')} classified and unchanged")

        rebuild = [dg.AssetKey(name) for name in ("rebuilt_archive", "review_queue", "folder_report")]
        if (force or report.classified or mirror_packs_changed(instance, fingerprints)
                or stale_assets(defs, instance, rebuild, output)):
            execute("rebuild_archive", "rebuilding the sorted mirror")
            report.rebuilt = True
    return report


def pipeline_run_config(verbose: bool = False, log_level: str = "INFO", **resource_values) -> dict:
    """The run config that sets every field of the config resource: the given values, else the
    DRUM_* variables, else the defaults (a run config's resource fields replace all of the
    definitions' own); without `verbose`, Dagster logs at `log_level` and above."""
    from drum_pipeline.config.settings import from_environment
    from drum_pipeline.defs.resources import DrumPipelineConfig

    values = {key: value for key, value in from_environment(**resource_values).items()
              if key in DrumPipelineConfig.model_fields and value is not None}
    run_config = {"resources": {"config": {"config": values}}}
    if not verbose:
        run_config["loggers"] = {"console": {"config": {"log_level": log_level}}}
    return run_config


def execute_job(defs: dg.Definitions, instance: dg.DagsterInstance, job_name: str, run_config: dict,
                **kwargs) -> None:
    """Run the job in process on `instance`; StepFailed, with the root cause, when a step fails."""
    result = defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, run_config=run_config, raise_on_error=False, **kwargs)
    if not result.success:
        raise StepFailed(root_cause(result))


def run_jobs(run_config: dict, jobs: list[tuple[str, dict]]) -> None:
    """Run each (job name, run tags) in process on the Dagster home, in order; StepFailed on the first failure."""
    from drum_pipeline.definitions import defs as load_definitions

    defs = load_definitions()
    with dg.DagsterInstance.get() as instance:
        for job_name, tags in jobs:
            execute_job(defs, instance, job_name, run_config, tags=tags)


def root_cause(result) -> str:
    """The innermost error of the first failed step, in one line (not Dagster's wrapper)."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while (error.cause or error.context) is not None:  # Dagster wraps the user's error
                error = error.cause or error.context
            lines = [line.strip() for line in error.message.splitlines() if line.strip()] or [error.cls_name]
            # "2 blocking asset checks failed with ERROR severity:" is followed by the checks' names
            message = " ".join(lines[:2]) if lines[0].endswith(":") else lines[0]
            return f"step {event.step_key} failed: {message}"
    return "the run failed"
