"""The jobs: the main one up to the deployed models and their inference bundle, the per-pack
classification, the rebuild, the folder observation of the daily re-scan, and the
cross-validation launched on purpose."""

import warnings

import dagster as dg

from drum_pipeline.defs.archive.assets import archive_index, folder_report, rebuilt_archive, review_queue
from drum_pipeline.defs.automation.executor import archive_executor
from drum_pipeline.defs.inputs.assets import corrections, sample_archive, sample_library, taxonomy
from drum_pipeline.defs.models.assets import cross_validation

STAGE_TAG = "drum_pipeline/stage"
ARCHIVE_JOB = "classify_archive"

with warnings.catch_warnings():  # include_sources is beta; observing the folders in the job is the point
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    everything = dg.AssetSelection.all(include_sources=True)
    training_job = dg.define_asset_job(
        "drum_pipeline", selection=everything - dg.AssetSelection.assets(
            archive_index, rebuilt_archive, review_queue, folder_report, cross_validation),
        tags={STAGE_TAG: "training"},  # the run queue of dagster.yaml runs one at a time
    )
# the rebuild and the reports on the index: no models, no audio
rebuild_job = dg.define_asset_job("rebuild_archive", selection=[rebuilt_archive, review_queue, folder_report])
model_selection_job = dg.define_asset_job("model_selection", selection=[cross_validation])
observe_folders_job = dg.define_asset_job("observe_folders", selection=[sample_library, sample_archive, taxonomy,
                                                                            corrections])


def archive_index_job(dask_scheduler: str):
    """The per-pack classification; `dask_scheduler` (DRUM_DASK_SCHEDULER) runs its steps on a Dask
    cluster (drum_pipeline.defs.automation.executor)."""
    return dg.define_asset_job(ARCHIVE_JOB, selection=[archive_index], executor_def=archive_executor(dask_scheduler),
                               tags={STAGE_TAG: "packs"})
