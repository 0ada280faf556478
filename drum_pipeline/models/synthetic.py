"""Synthesized drums: the synthesizer as a source of varied examples of every fine label (domain
randomisation), added to the training split only, never to validation or test; and, from
another random stream, the evaluation's renders of every voice, which no model trained on."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from drum_pipeline.audio.features import FeatureParams, analysed_window, compute_features
from drum_pipeline.demo import synth
from drum_pipeline.models.networks import SplitData

TRAINING_STREAM, EVALUATION_STREAM = 1009, 2003  # never the seeds the demo folders are made with
EVALUATION_RENDERS_PER_VOICE = 30


def synthetic_split(fine_to_class: dict[str, str], classes: list[str], per_label: int, params: FeatureParams,
                    seed: int, stream: int = TRAINING_STREAM) -> SplitData:
    """`per_label` renders of every fine label the synthesizer knows and the taxonomy maps to one
    of `classes`, as log-mel spectrograms with class indices. Cached in the process: the model
    assets of one run share them. `EVALUATION_STREAM` gives renders the models never trained on."""
    return _render(tuple(sorted(fine_to_class.items())), tuple(classes), per_label, params, seed, stream)


@lru_cache(maxsize=3)
def _render(fine_to_class: tuple, classes: tuple, per_label: int, params: FeatureParams, seed: int,
            stream: int) -> SplitData:
    mapping, index = dict(fine_to_class), {name: i for i, name in enumerate(classes)}
    labels = [fine for fine in synth.DRUM_VOICES if mapping.get(fine) in index for _ in range(max(0, per_label))]
    logmel, duration = _render_windows(labels, params, np.random.default_rng([seed, stream]))
    return SplitData(logmel, np.array([index[mapping[fine]] for fine in labels], dtype=np.int64),
                     np.array(labels, dtype=str), duration)


def synthetic_table(fine_to_class: dict[str, str], classes: list[str], per_label: int, params: FeatureParams,
                    seed: int) -> pd.DataFrame:
    """The training renders of synthetic_split as a table in the spectrogram_features table's
    columns (split `train`, flattened log-mel), which splits_from_table reads like the library's."""
    split = synthetic_split(fine_to_class, classes, per_label, params, seed)
    return pd.DataFrame({
        "path": [f"synthesized/{fine}/{i}" for i, fine in enumerate(split.fine)],
        "label": [classes[y] for y in split.y], "fine_label": split.fine, "split": "train", "error": "",
        "duration": split.duration, "logmel": list(split.logmel.reshape(len(split.y), -1))})


def synthetic_negatives(per_kind: int, params: FeatureParams, seed: int, stream: int = TRAINING_STREAM
                        ) -> SplitData:
    """`per_kind` renders of every kind of non-drum sound the synthesizer knows (loops, notes,
    chords, noise beds, sweeps, voices): log-mel spectrograms and durations; `y` is -1."""
    kinds = [kind for kind in synth.TRAINING_NEGATIVES for _ in range(max(0, per_kind))]
    logmel, duration = _render_windows(kinds, params, np.random.default_rng([seed, stream, 1]))
    return SplitData(logmel, np.full(len(kinds), -1, np.int64), np.array(kinds, dtype=str), duration)


def _render_windows(names: list[str], params: FeatureParams, rng: np.random.Generator):
    windows = np.zeros((len(names), params.window_samples), np.float32)
    duration = np.zeros(len(names), np.float32)
    for row, name in enumerate(names):
        sound = synth.render(name, rng, params.sample_rate)
        windows[row] = analysed_window(sound, params)
        duration[row] = len(sound) / params.sample_rate
    return compute_features(windows, params)["logmel"], duration
