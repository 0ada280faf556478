"""The one Definitions object of drum-pipeline."""

import warnings

import dagster as dg

from drum_pipeline.assets.archive import archive_index, rebuilt_archive
from drum_pipeline.assets.features import audio_statistics, mfcc_features, spectrogram_features
from drum_pipeline.assets.inputs import sample_archive, sample_library, taxonomy
from drum_pipeline.assets.labels import curated_training_set, label_extraction
from drum_pipeline.assets.models import cross_validation, evaluation_report, model1, model2_classifier, model2_encoder
from drum_pipeline.resources import DrumPipelineConfig

# The main job observes the input folders (registering the archive's packs) and materializes
# everything up to the deployed models; then each pack's archive_index partition runs, then the
# rebuild. `drum-pipeline run` runs the three in that order.
with warnings.catch_warnings():  # include_sources is beta; observing the folders in the job is the point
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    everything = dg.AssetSelection.all(include_sources=True)
    training_job = dg.define_asset_job(
        "drum_pipeline", selection=everything - dg.AssetSelection.assets(archive_index, rebuilt_archive, cross_validation)
    )
archive_index_job = dg.define_asset_job("classify_archive", selection=[archive_index])
rebuild_job = dg.define_asset_job("rebuild_archive", selection=[rebuilt_archive])
model_selection_job = dg.define_asset_job("model_selection", selection=[cross_validation])

defs = dg.Definitions(
    assets=[sample_library, sample_archive, taxonomy, label_extraction, curated_training_set,
            mfcc_features, spectrogram_features, audio_statistics,
            model1, model2_encoder, model2_classifier, evaluation_report,
            archive_index, rebuilt_archive, cross_validation],
    jobs=[training_job, archive_index_job, rebuild_job, model_selection_job],
    resources={"config": DrumPipelineConfig()},
)
