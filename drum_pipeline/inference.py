"""The trained models together: Model 1, Model 2 and their ensemble, loaded once per process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drum_pipeline.features import FeatureParams
from drum_pipeline.model_store import DEPLOYED, load_model, model_dir
from drum_pipeline.models import calibrate

CLASSIFIERS = ("model1", "model2_classifier")


@dataclass
class ModelSet:
    classes: list[str]
    model1: object
    model2: object
    temperatures: dict[str, float]

    def predict(self, mfcc: np.ndarray, logmel: np.ndarray, batch_size: int = 512) -> dict[str, np.ndarray]:
        """Class probabilities of Model 1, Model 2 and the ensemble (the mean of the calibrated two)."""
        if len(mfcc) == 0:
            empty = np.zeros((0, len(self.classes)), np.float32)
            return {"model1": empty, "model2": empty, "ensemble": empty}
        p1 = self.model1.predict(mfcc[..., None], batch_size=batch_size, verbose=0)
        p2 = self.model2.predict(logmel[..., None], batch_size=batch_size, verbose=0)
        ensemble = (calibrate(p1, self.temperatures.get("model1", 1.0))
                    + calibrate(p2, self.temperatures.get("model2_classifier", 1.0))) / 2
        return {"model1": p1, "model2": p2, "ensemble": ensemble}


def load_model_set(models_root: Path, classes: list[str], params: FeatureParams, stage: str = DEPLOYED) -> ModelSet:
    """Model 1 and Model 2 of `stage` (deployed by default), checked against the classes and parameters."""
    model1, meta1 = load_model(model_dir(models_root, "model1", stage), classes, params)
    model2, meta2 = load_model(model_dir(models_root, "model2_classifier", stage), classes, params)
    return ModelSet(list(classes), model1, model2, {"model1": meta1.get("temperature", 1.0),
                                                    "model2_classifier": meta2.get("temperature", 1.0)})
