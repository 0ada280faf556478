"""What keeps the archive sorted without clicks: the pack sensor, the daily re-scan, and the
sensor that evaluates the assets' automation conditions."""

import hashlib
import json
import os

import dagster as dg

from drum_pipeline.archive.index import pack_fingerprints
from drum_pipeline.audio.folders import fingerprint, scan_audio_files
from drum_pipeline.defs.archive.assets import MAX_PACKS_PER_RUN
from drum_pipeline.defs.automation.freshness import partition_spans, range_tags, recorded_fingerprint
from drum_pipeline.defs.automation.jobs import (
    archive_index_job,
    observe_folders_job,
    rebuild_job,
    training_job,
)
from drum_pipeline.defs.inputs.assets import corrections_version
from drum_pipeline.defs.resources import DrumPipelineConfig
from drum_pipeline.defs.shared import archive_packs
from drum_pipeline.models.store import DEPLOYED, model_dir

DEFAULT_RESCAN_CRON = "0 4 * * *"


def _observed_version(instance: dg.DagsterInstance, key: str) -> str | None:
    record = instance.get_latest_data_version_record(dg.AssetKey(key))
    event = record and (record.asset_observation or record.asset_materialization)
    return (event.tags or {}).get("dagster/data_version") if event else None


@dg.sensor(
    jobs=[training_job, archive_index_job, rebuild_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def archive_sensor(context: dg.SensorEvaluationContext, config: DrumPipelineConfig) -> dg.SensorResult:
    """Watches the library and the archive by stat only, and the corrections file. A changed
    library, or changed corrections, runs the main job (retraining with the corrected files); a
    new pack gets a partition and a run; a changed pack a run; a pack that left the archive loses
    its partition, and the rebuild drops its entries (its originals are not touched)."""
    settings = config.settings()
    known: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    packs = pack_fingerprints(settings.archive_dir)
    registered = context.instance.get_dynamic_partitions(archive_packs.name)
    requests, partition_requests = [], []

    library = fingerprint(scan_audio_files(settings.library_dir))
    if settings.library_dir.is_dir() and library != _observed_version(context.instance, "sample_library"):
        requests.append(dg.RunRequest(job_name="drum_pipeline", run_key=f"library-{library}"))
    corrected = corrections_version(settings.layout.corrections_path)
    if corrected != (_observed_version(context.instance, "corrections") or "none") and not requests:
        requests.append(dg.RunRequest(job_name="drum_pipeline", run_key=f"corrections-{corrected}"))

    new = sorted(set(packs) - set(registered))
    if new:
        partition_requests.append(archive_packs.build_add_request(new))
    # A pack is changed when its fingerprint differs from the one this sensor last requested a run
    # for and from the one its last classification recorded (so a pack `drum-pipeline run` just
    # classified is not classified again); one run covers many packs.
    models_ready = (model_dir(settings.layout.models_dir, "model1", DEPLOYED) / "labels.json").exists()
    changed = [pack for pack, version in packs.items()
               if known.get(pack) != version and recorded_fingerprint(context.instance, pack) != version]
    if models_ready and changed:
        order = [pack for pack in registered if pack in packs] + new
        for span in partition_spans(order, changed, MAX_PACKS_PER_RUN):
            requests.append(dg.RunRequest(job_name="classify_archive", tags=range_tags(span[0], span[-1]),
                                          run_key=fingerprint_of_versions({pack: packs[pack] for pack in span})))
    gone = sorted(set(registered) - set(packs))
    if gone:
        partition_requests.append(archive_packs.build_delete_request(gone))
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


daily_rescan = dg.ScheduleDefinition(
    name="daily_rescan",
    job=observe_folders_job,
    cron_schedule=os.environ.get("DRUM_RESCAN_CRON", DEFAULT_RESCAN_CRON),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Observes the library, the archive (registering new packs) and the taxonomy; the "
                "automation conditions then rematerialize only what their changes made stale.",
)

automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING)
