"""The curated training set: strict rules on the labelled library, then a grouped split.

Only unambiguous drum labels, one-shots only (loops dropped by duration; names already said
non-drum), no silent or clipped-to-nothing files, one file per content hash; then a
train / val / test split by group (pack or instrument folder), so that velocity layers of one
instrument never straddle splits.
"""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from drum_pipeline.audio.features import rings_as_one_hit
from drum_pipeline.audio.loader import AudioLoadError, load_window

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class CurationRules:
    max_one_shot_seconds: float = 6.0  # longer files are loops or phrases, not one-shots, unless one decaying hit
    max_ring_seconds: float = 30.0  # no cymbal or gong rings longer
    silence_peak: float = 1e-3  # -60 dBFS: nothing to hear
    max_clipped_share: float = 0.25  # a share of samples at full scale: clipped to a square
    test_share: float = 0.15
    val_share: float = 0.15


def group_of(relpath: str) -> str:
    """The split group of a library file: its pack and instrument folder ("Pack/Kicks"), or the pack."""
    parent = PurePosixPath(relpath).parent.parts
    return "/".join(parent[:2]) or "."


def instrument_of(relpath: str) -> str:
    """A finer group for libraries of fewer than three folders: the folder and the file name
    without its numbers ("kick_soft01.ogg" and "kick_soft02.ogg" are one instrument)."""
    name = PurePosixPath(relpath).stem.lower()
    stem = re.sub(r"[\d\s_\-.()]+$", "", name) or name
    return f"{group_of(relpath)}/{stem}"


def one_shot_problem(path: Path, rules: CurationRules) -> str:
    """Why the file is not a usable one-shot ('' when it is)."""
    try:
        audio = load_window(path)
    except AudioLoadError as exc:
        return f"unreadable: {exc}"
    if audio.source_duration > rules.max_one_shot_seconds and (
            audio.source_duration > rules.max_ring_seconds or not rings_as_one_hit(path)):
        return f"too long for a one-shot ({audio.source_duration:.1f} s > {rules.max_one_shot_seconds:g} s)"
    peak = float(np.max(np.abs(audio.samples)))
    if peak < rules.silence_peak:
        return f"silent (peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS)"
    clipped = float(np.mean(np.abs(audio.samples) >= 0.999 * peak)) if peak >= 0.99 else 0.0
    if clipped > rules.max_clipped_share:
        return f"clipped ({clipped:.0%} of samples at full scale)"
    return ""


def curate(
    labels: pd.DataFrame,
    library_dir: Path,
    rules: CurationRules = CurationRules(),
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the rules to the label_extraction table; returns (curated set, rejected files with reasons).

    The curated set has path, sha256, fine_label, label, group, source (library, or correction:
    an archive file labelled by hand, with an absolute path and its pack as group), split;
    rejects have path, sha256, status, reason. Every labelled file is in exactly one of them.
    """
    rejects: list[dict] = []
    kept: list[dict] = []
    seen_hashes: dict[str, str] = {}
    candidates = labels[labels["status"] == "labelled"].sort_values("path")
    for done, row in enumerate(candidates.itertuples(index=False), start=1):
        if progress:
            progress(done, len(candidates))
        problem = one_shot_problem(Path(library_dir) / row.path, rules) if row.sha256 else "unreadable"
        if not problem and row.sha256 in seen_hashes:
            problem = f"duplicate of {seen_hashes[row.sha256]}"
        if problem:
            rejects.append({"path": row.path, "sha256": row.sha256, "status": "rejected", "reason": problem})
            continue
        seen_hashes[row.sha256] = row.path
        given_group = getattr(row, "group", "")  # corrected archive files come with their pack as group
        kept.append({"path": row.path, "sha256": row.sha256, "fine_label": row.fine_label, "label": row.label,
                     "group": given_group or group_of(row.path),
                     "source": "correction" if getattr(row, "source", "") == "correction" else "library"})
    for row in labels[labels["status"] != "labelled"].itertuples(index=False):
        rejects.append({"path": row.path, "sha256": row.sha256, "status": row.status, "reason": row.rule})
    curated = pd.DataFrame(kept, columns=["path", "sha256", "fine_label", "label", "group", "source"])
    library = curated["source"] == "library"
    if curated.loc[library, "group"].nunique() < 3:  # a flat library: split by instrument instead of by folder
        curated.loc[library, "group"] = curated.loc[library, "path"].map(instrument_of)
    curated["split"] = grouped_split(curated["label"], curated["group"], rules, seed, curated["fine_label"])
    return curated, pd.DataFrame(rejects, columns=["path", "sha256", "status", "reason"])


def grouped_split(labels: pd.Series, groups: pd.Series, rules: CurationRules = CurationRules(),
                  seed: int = 7, fine_labels: pd.Series | None = None) -> pd.Series:
    """train / val / test per row, whole groups at a time, stratified by label as far as groups allow.

    Deterministic for a seed: of a few candidate shuffles and choices of the test and val folds,
    the one whose test and val splits miss the fewest classes wins; then one that leaves at least
    half of the files to training (a pack holding half the library is not held out whole); then
    the one whose test split holds the most fine labels, so the evaluation hears as many kinds of
    sound as it can.
    """
    from sklearn.model_selection import StratifiedGroupKFold  # imported here: loading the definitions stays fast

    split = pd.Series("train", index=labels.index, dtype=object)
    n_groups = groups.nunique()
    if n_groups < 3:
        return split
    folds = max(3, min(n_groups, round(1 / min(rules.test_share, rules.val_share))))
    classes = set(labels)
    fine = fine_labels if fine_labels is not None else labels
    best, best_missing = None, None
    for attempt in range(10):
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed + attempt)
        fold_of = np.empty(len(labels), dtype=int)
        with warnings.catch_warnings():  # "the least populated class has only N members": expected
            warnings.simplefilter("ignore", UserWarning)
            for fold, (_, index) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
                fold_of[index] = fold
        missing = [len(classes - set(labels[fold_of == fold])) for fold in range(folds)]
        voices = [fine[fold_of == fold].nunique() for fold in range(folds)]
        sizes = np.bincount(fold_of, minlength=folds)
        for test_fold, val_fold in itertools.permutations(range(folds), 2):
            too_big = sizes[test_fold] + sizes[val_fold] > len(labels) / 2
            score = (missing[test_fold] + missing[val_fold], too_big, -voices[test_fold])
            if best_missing is None or score < best_missing:
                best, best_missing = np.where(fold_of == test_fold, 0, np.where(fold_of == val_fold, 1, 2)), score
    split[best == 0] = "test"
    split[best == 1] = "val"
    return split
