"""What keeps the archive sorted without clicks: the pack sensor, the daily re-scan, and the
sensor that evaluates the assets' automation conditions."""

import hashlib
import json

import dagster as dg

from drum_pipeline.archive.index import pack_fingerprints
from drum_pipeline.audio.folders import fingerprint, scan_audio_files
from drum_pipeline.defs.archive.assets import MAX_PACKS_PER_RUN
from drum_pipeline.defs.automation.freshness import (
    accurate_mode_changed,
    accurate_mode_run_key,
    current_data_version,
    partition_spans,
    range_tags,
    recorded_fingerprint,
)
from drum_pipeline.defs.automation.jobs import ARCHIVE_JOB, observe_folders_job, rebuild_job, training_job
from drum_pipeline.defs.inputs.assets import corrections_version
from drum_pipeline.defs.resources import DrumPipelineConfig
from drum_pipeline.defs.shared import archive_packs
from drum_pipeline.models.store import DEPLOYED, model_dir


def pack_partition_requests(registered: list[str], packs) -> tuple[list[str], list[str], list]:
    """The packs new to the archive and those gone from it, and the dynamic-partition requests
    that register the new ones and delete the gone ones (the sensor's; `drum-pipeline run`
    applies the registrations only, so a home shared by several archives keeps their packs)."""
    new = sorted(set(packs) - set(registered))
    gone = sorted(set(registered) - set(packs))
    return new, gone, ([archive_packs.build_add_request(new)] if new else []) + (
        [archive_packs.build_delete_request(gone)] if gone else [])


def archive_sensor_evaluation(context: dg.SensorEvaluationContext, config: DrumPipelineConfig) -> dg.SensorResult:
    """Watches the library and the archive by stat only, the corrections file and the accurate
    mode. A changed library, or changed corrections, runs the main job (retraining with the
    corrected files); the accurate mode switched since the last training, the assets it changes; a
    new pack gets a partition and a run; a changed pack a run; a pack that left the archive loses
    its partition, and the rebuild drops its entries (its originals are not touched)."""
    settings = config.settings()
    known: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    packs = pack_fingerprints(settings.archive_dir)
    registered = context.instance.get_dynamic_partitions(archive_packs.name)
    requests = []

    library = fingerprint(scan_audio_files(settings.library_dir))
    if settings.library_dir.is_dir() and library != current_data_version(context.instance, dg.AssetKey("sample_library")):
        requests.append(dg.RunRequest(job_name="drum_pipeline", run_key=f"library-{library}"))
    corrected = corrections_version(settings.layout.corrections_path)
    if corrected != (current_data_version(context.instance, dg.AssetKey("corrections")) or "none") and not requests:
        requests.append(dg.RunRequest(job_name="drum_pipeline", run_key=f"corrections-{corrected}"))
    switched = accurate_mode_changed(context.instance, settings.accurate)
    if switched and not requests:  # what the mode changes; the automation sensor then updates what follows
        requests.append(dg.RunRequest(job_name="drum_pipeline", asset_selection=switched,
                                      run_key=accurate_mode_run_key(context.instance, settings.accurate)))

    new, gone, partition_requests = pack_partition_requests(registered, packs)
    # A pack is changed when its fingerprint differs from the one this sensor last requested a run
    # for and from the one its last classification recorded (so a pack `drum-pipeline run` just
    # classified is not classified again); one run covers many packs.
    models_ready = (model_dir(settings.layout.models_dir, "model1", DEPLOYED) / "labels.json").exists()
    changed = [pack for pack, version in packs.items()
               if known.get(pack) != version and recorded_fingerprint(context.instance, pack) != version]
    if models_ready and changed:
        order = [pack for pack in registered if pack in packs] + new
        for span in partition_spans(order, changed, MAX_PACKS_PER_RUN):
            requests.append(dg.RunRequest(job_name=ARCHIVE_JOB, tags=range_tags(span[0], span[-1]),
                                          run_key=fingerprint_of_versions({pack: packs[pack] for pack in span})))
    if gone:
        requests.append(dg.RunRequest(job_name="rebuild_archive", run_key=f"removed-{'|'.join(gone)}"))
    if not requests and not partition_requests:
        return dg.SensorResult(skip_reason="nothing changed in the library or the archive")
    context.log.info(f"{len(new)} new packs, {len(changed) if models_ready else 0} to classify, {len(gone)} gone")
    # A pack counts as handled only once its run is requested (models may not be deployed yet).
    cursor = {pack: version for pack, version in packs.items() if models_ready or pack in known}
    return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=partition_requests,
                           cursor=json.dumps(cursor))


def fingerprint_of_versions(versions: dict[str, str]) -> str:
    """A run key for classifying these packs at these fingerprints."""
    return "packs-" + hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:24]


def archive_sensor(archive_job) -> dg.SensorDefinition:
    """The pack sensor (archive_sensor_evaluation), every minute, on by default; it runs the main
    job, `archive_job` (the per-pack classification) and the rebuild."""
    return dg.sensor(name="archive_sensor", jobs=[training_job, archive_job, rebuild_job], minimum_interval_seconds=60,
                     default_status=dg.DefaultSensorStatus.RUNNING)(archive_sensor_evaluation)


def daily_rescan(cron: str) -> dg.ScheduleDefinition:
    """The re-scan schedule at `cron` (DRUM_RESCAN_CRON), on by default."""
    return dg.ScheduleDefinition(
        name="daily_rescan",
        job=observe_folders_job,
        cron_schedule=cron,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Observes the library, the archive and the taxonomy; the automation conditions then "
                    "rematerialize only what their changes made stale (the archive sensor registers new packs).",
    )


automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING)
