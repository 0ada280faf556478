"""The one Definitions object of drum-pipeline."""

import dagster as dg

from drum_pipeline.defs.archive.assets import archive_index, folder_report, rebuilt_archive, review_queue
from drum_pipeline.defs.automation.jobs import ALL_JOBS
from drum_pipeline.defs.automation.sensors import (
                                         archive_sensor,
                                         automation_sensor,
                                         daily_rescan,
)
from drum_pipeline.defs.features.assets import (
                                         audio_statistics,
                                         mfcc_features,
                                         spectrogram_features,
)
from drum_pipeline.defs.inputs.assets import corrections, sample_archive, sample_library, taxonomy
from drum_pipeline.defs.labels.assets import curated_training_set, label_extraction
from drum_pipeline.defs.models.assets import (
                                         cross_validation,
                                         descriptor_model,
                                         drum_detector,
                                         evaluation_report,
                                         inference_bundle,
                                         model1,
                                         model2_classifier,
                                         model2_encoder,
)
from drum_pipeline.defs.resources import DrumPipelineConfig

# `drum-pipeline run` runs the jobs drum_pipeline (observing the folders, registering the
# archive's packs, training and deploying), classify_archive for every pack, then rebuild_archive.
defs = dg.Definitions(
    assets=[sample_library, sample_archive, taxonomy, corrections, label_extraction, curated_training_set,
            mfcc_features, spectrogram_features, audio_statistics,
            model1, model2_encoder, model2_classifier, drum_detector, descriptor_model, evaluation_report,
            inference_bundle, cross_validation, archive_index, rebuilt_archive, review_queue, folder_report],
    jobs=ALL_JOBS,
    sensors=[archive_sensor, automation_sensor],
    schedules=[daily_rescan],
    resources={"config": DrumPipelineConfig()},
)
