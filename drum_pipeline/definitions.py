"""The one Definitions object of drum-pipeline."""

from __future__ import annotations

import warnings

import dagster as dg

from drum_pipeline.assets.features import audio_statistics, mfcc_features, spectrogram_features
from drum_pipeline.assets.models import evaluation_report, model1, model2_classifier, model2_encoder
from drum_pipeline.assets.inputs import sample_archive, sample_library, taxonomy
from drum_pipeline.assets.labels import curated_training_set, label_extraction
from drum_pipeline.resources import DrumPipelineConfig

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    # Observes the input folders, then materializes everything downstream, in one run.
    drum_pipeline_job = dg.define_asset_job(
        "drum_pipeline", selection=dg.AssetSelection.all(include_sources=True)
    )

defs = dg.Definitions(
    assets=[sample_library, sample_archive, taxonomy, label_extraction, curated_training_set,
            mfcc_features, spectrogram_features, audio_statistics,
            model1, model2_encoder, model2_classifier, evaluation_report],
    jobs=[drum_pipeline_job],
    resources={"config": DrumPipelineConfig()},
)
