"""What the environment decides, read when Dagster loads the definitions (never at import): the
resources' values (the DRUM_* variables), the re-scan's cron and the archive job's executor."""

import dagster as dg

from drum_pipeline.config.settings import from_environment
from drum_pipeline.defs.automation.jobs import archive_index_job
from drum_pipeline.defs.automation.sensors import archive_sensor, daily_rescan
from drum_pipeline.defs.resources import DrumPipelineConfig, pipeline_resources


@dg.definitions
def environment() -> dg.Definitions:
    values = from_environment()
    archive_job = archive_index_job(values["dask_scheduler"])
    return dg.Definitions(resources=pipeline_resources(DrumPipelineConfig.from_values(values)), jobs=[archive_job],
                          sensors=[archive_sensor(archive_job)], schedules=[daily_rescan(values["rescan_cron"])])
