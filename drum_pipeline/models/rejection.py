"""Is it a drum one-shot? A detector learned from real and synthesized negatives (loops, notes,
chords, noise beds, sweeps, voices), and thresholds picked on held-out drums for a stated share
kept, instead of constants tuned on the demo.

The detector reads the descriptors of the cached log-mel window and the file's duration
(models/descriptors.py); gradient-boosted trees decide. On the real-sound corpus, holding out
each source in turn and keeping 97.5% of its drums, trees rejected 88% of its non-drums and a
logistic regression 81% (AUC 0.974 against 0.934), on the first, smaller set of descriptors; with
the present set the pooled benchmark rejects 87% of non-drums (82% before) with 9% of drums
unsorted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.models.descriptors import BalancedTrees, descriptors
from drum_pipeline.models.store import ModelMismatchError


def train_drum_detector(drum_logmel: np.ndarray, drum_duration: np.ndarray, other_logmel: np.ndarray,
                        other_duration: np.ndarray, params: FeatureParams, seed: int = 7):
    """Class-balanced gradient-boosted trees: drum one-shots (1) against everything else (0)."""
    x = np.concatenate([descriptors(drum_logmel, drum_duration, params),
                        descriptors(other_logmel, other_duration, params)])
    y = np.concatenate([np.ones(len(drum_logmel), int), np.zeros(len(other_logmel), int)])
    return BalancedTrees(seed).fit(x, y)


def drum_scores(detector, logmel: np.ndarray, duration: np.ndarray, params: FeatureParams,
                rows: np.ndarray | None = None) -> np.ndarray:
    """The detector's probability that each window is a drum one-shot (N,); `rows`: their descriptors,
    when the caller has them already."""
    if len(logmel) == 0:
        return np.zeros(0, np.float32)
    rows = descriptors(logmel, duration, params) if rows is None else rows
    if getattr(detector, "n_features_in_", rows.shape[1]) != rows.shape[1]:
        raise ModelMismatchError("the drum detector was trained on other descriptors: retrain it (drum-pipeline run)")
    return detector.predict_proba(rows)[:, 1].astype(np.float32)


def threshold_keeping(scores: np.ndarray, share: float) -> float:
    """The threshold that keeps about `share` of `scores` at or above it: their (1 - share)
    quantile, interpolated between neighbours, so that few scores still give a threshold; 0 without data."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) == 0 or share >= 1:
        return 0.0
    return float(np.quantile(scores, 1 - share))


def operating_curve(drum_scores_: np.ndarray, other_scores: np.ndarray,
                    shares=(0.80, 0.85, 0.90, 0.95, 0.975, 0.99)) -> pd.DataFrame:
    """For thresholds that keep each share of held-out drums: the drums kept and the non-drums rejected."""
    rows = []
    for share in shares:
        threshold = threshold_keeping(drum_scores_, share)
        rows.append({"threshold": round(threshold, 4),
                     "drums_kept": round(float(np.mean(drum_scores_ >= threshold)), 4) if len(drum_scores_) else 0.0,
                     "non_drums_rejected": round(float(np.mean(other_scores < threshold)), 4)
                     if len(other_scores) else 0.0})
    return pd.DataFrame(rows)


def non_drum_split(labels: pd.DataFrame) -> pd.DataFrame:
    """The library's readable non-drum files (label_extraction status `non_drum`) with a split:
    whole groups (pack and folder) alternately in train and val, so that thresholds are checked
    on sounds the detector never heard."""
    from drum_pipeline.labels.curation import group_of

    files = labels[(labels["status"] == "non_drum") & (labels["sha256"] != "")].copy()
    groups = files["path"].map(group_of)
    held_out = set(sorted(set(groups))[1::2])
    files["split"] = np.where(groups.isin(held_out), "val", "train")
    return files


UNSORTED = "unsorted"  # the label of a file the mirror leaves unsorted


@dataclass(frozen=True)
class SortingRules:
    """When a classified file goes to unsorted. The evaluation picks `drum_threshold` and
    `confidence_threshold` on the library's held-out drums (see calibrate_sorting_rules)."""

    confidence_threshold: float = 0.0  # the ensemble's confidence under it: unsorted
    drum_threshold: float = 0.0  # the drum detector's score under it: not a drum one-shot
    # a file sorted by its name whose sound is at least this sure of another class goes to review
    # (archive/reports.review_queue). Two CNNs this sure of different classes no longer send a file to
    # unsorted: on the real-sound benchmark the ensemble was right on all 3 drums that rule unsorted
    # (2 of them cymbals), and it caught 3 of 981 non-drums. Such a file is sorted, and in the review queue.
    disagree_confidence: float = 0.7
    max_one_shot_seconds: float = 6.0  # longer files are loops or phrases (unsorted), unless one decaying hit
    max_ring_seconds: float = 30.0  # no cymbal or gong rings longer: unsorted whatever the window shows
    min_seconds: float = 0.01  # shorter decodable files are not a sound: unsorted, "too short"
    min_peak: float = 0.001  # a peak under -60 dBFS is no signal above the noise floor: unsorted, "silent"
    use_names: bool = True  # a file's own name and folders count beside its sound (sorted_label)


def length_problem(rules: SortingRules, duration: float | None, single_hit: bool | None) -> str:
    """'too long for a one-shot (...)' for a file longer than a one-shot that is not one decaying
    hit (`single_hit` None: not known, the length alone decides), or longer than any ring; else ''."""
    if duration is None or duration != duration or duration <= rules.max_one_shot_seconds:
        return ""
    if duration > rules.max_ring_seconds or single_hit is None:
        return f"too long for a one-shot ({duration:.1f} s)"
    return "" if single_hit else f"too long for a one-shot ({duration:.1f} s, not one decaying hit)"


def unsorted_reason(rules: SortingRules, duration: float | None, drum_score: float | None, confidence: float,
                    single_hit: bool | None = None) -> str:
    """Why a classified file goes to unsorted ('' when it does not), from its duration, drum score
    and the ensemble's confidence; `single_hit`: whether its window holds one decaying hit
    (single_hits), None if not known."""
    too_long = length_problem(rules, duration, single_hit)
    if too_long:
        return too_long
    if drum_score is not None and drum_score == drum_score and drum_score < rules.drum_threshold:
        return f"not like a drum one-shot (drum score {_under(drum_score, rules.drum_threshold)})"
    if confidence < rules.confidence_threshold:
        return f"low confidence ({_under(confidence, rules.confidence_threshold)})"
    return ""


def _under(value: float, threshold: float) -> str:
    """'0.42 under 0.45', with enough digits that the two never print equal and that a threshold
    short of 1 (or over 0) never prints as 1.00 (0.00)."""
    digits = 2
    while digits < 6 and (f"{value:.{digits}f}" == f"{threshold:.{digits}f}"
                          or (round(threshold, digits) in (0.0, 1.0) and threshold not in (0.0, 1.0))):
        digits += 1
    return f"{value:.{digits}f} under {threshold:.{digits}f}"


# Held-out drums that all score near 1 (synthesized ones) once gave 0.9994, a threshold real drums
# can hardly pass; on real held-out sounds the benchmark's folds picked 0.03 to 0.68.
MAX_DRUM_THRESHOLD = 0.9


def calibrate_sorting_rules(drum_scores: np.ndarray, confidence: np.ndarray, keep_share: float,
                            base: SortingRules = SortingRules(), groups: np.ndarray | None = None) -> SortingRules:
    """Thresholds picked on held-out drums (one-shots by construction) so that `keep_share` of them
    is sorted: half of what may go is left to the drum detector, the rest to the ensemble's
    `confidence` (its top probability). With `groups` (one name per drum: the library's, the
    base corpus's), each threshold keeps that share of every group, so that a group of easy drums
    (a synthesized demo library) does not set a threshold the real ones fail. The detector's
    threshold is never over MAX_DRUM_THRESHOLD."""
    groups = np.zeros(len(drum_scores), int) if groups is None else np.asarray(groups)
    members = [groups == group for group in np.unique(groups)]
    drum_threshold = min([threshold_keeping(drum_scores[m], 1 - (1 - keep_share) / 2) for m in members]
                         + [MAX_DRUM_THRESHOLD])
    remaining = drum_scores >= drum_threshold
    thresholds = [threshold_keeping(confidence[m & remaining], min(1.0, keep_share * m.sum() / (m & remaining).sum()))
                  for m in members if (m & remaining).any()]
    return replace(base, drum_threshold=round(drum_threshold, 6), confidence_threshold=round(min(thresholds or [0.0]), 6))


def sorting_rules_from(calibrated: dict | None, confidence_threshold: float | None = None,
                       use_names: bool = True) -> SortingRules:
    """The rules of the sorting_thresholds asset's value (the defaults without one); an explicit
    `confidence_threshold` (DRUM_CONFIDENCE_THRESHOLD, --threshold) overrides the calibrated one,
    and `use_names` False (--ignore-names) sorts by sound alone."""
    known = set(SortingRules.__dataclass_fields__) - {"use_names"}
    rules = SortingRules(**{key: value for key, value in (calibrated or {}).items() if key in known},
                         use_names=use_names)
    return rules if confidence_threshold is None else replace(rules, confidence_threshold=confidence_threshold)


NON_DRUM = "non_drum"  # a name claim of non-drum material (loop, bass, fx, vocal ...)

# A drum name multiplies the odds that a file is a drum one-shot: by 85 on the real-sound benchmark
# (297 of its 381 recorded drums carry one, 9 of its 981 non-drums). NAME_ODDS counts a quarter of
# that, for archives named less well than those packages.
NAME_ODDS = 20.0


def named_drum_threshold(drum_threshold: float) -> float:
    """The drum score under which a file whose name claims a drum class is still no drum one-shot:
    the score whose odds, multiplied by NAME_ODDS, reach the odds of `drum_threshold`."""
    return drum_threshold / (drum_threshold + (1 - drum_threshold) * NAME_ODDS)


def sorted_label(row, rules: SortingRules) -> tuple[str, str, str, str]:
    """(label, fine label, reason, label_source) of a classified index row (a dict, or a named
    tuple of the index's columns) under `rules`, from its sound and its name's claim
    (`name_label`, `name_fine_label`, `name_rule`; see labels/names.name_claim):

    - a name of non-drum material: `unsorted`, with the name's rule as the reason (`name`);
    - a name that claims a class: that class, unless the sound is no usable signal or the drum
      detector rules it out even with the name's odds (named_drum_threshold) (`name`); the
      sound's doubts and length do not overrule it;
    - otherwise (no informative name, or `rules.use_names` False): the sound (`sound`), as reason_of says.

    An unsorted file keeps the fine label its sound is nearest to.
    """
    get = row.get if isinstance(row, dict) else lambda key, default=None: getattr(row, key, default)
    name = (get("name_label") or "") if rules.use_names else ""
    sound_fine = get("predicted_fine_label") or get("fine_label") or ""  # an index made before names counted
    reason = reason_of(row, rules)
    if name == NON_DRUM:
        return UNSORTED, sound_fine, f"the name says no drum one-shot: {get('name_rule')}", "name"
    if not name or signal_problem(get("duration"), get("peak"), rules):
        return (UNSORTED if reason else get("predicted_label")), sound_fine, reason, "sound"
    score, threshold = get("drum_score"), named_drum_threshold(rules.drum_threshold)
    if score is not None and score == score and score < threshold:
        return UNSORTED, sound_fine, f"not like a drum one-shot, whatever its name says ({name}; drum score " \
                                     f"{_under(score, threshold)})", "sound"
    fine = get("name_fine_label") or name
    if fine == name and get("predicted_label") == name:  # the name says "hihat", the sound "hihat_open"
        fine = sound_fine or name
    return name, fine, "", "name"


def reason_of(row, rules: SortingRules) -> str:
    """Why an index row (a dict, or a named tuple of the index's columns) is unsorted: no usable
    sound (signal_problem), then unsorted_reason."""
    get = row.get if isinstance(row, dict) else lambda key, default=None: getattr(row, key, default)
    single_hit = get("single_hit")
    return signal_problem(get("duration"), get("peak"), rules) or unsorted_reason(
        rules, get("duration"), get("drum_score"), get("confidence"),
        bool(single_hit) if isinstance(single_hit, bool | np.bool_) else None)  # None, NaN or NA: not known


def signal_problem(duration: float | None, peak: float | None, rules: SortingRules) -> str:
    """'too short' or 'silent' when a decoded file holds no usable sound."""
    if duration is not None and duration < rules.min_seconds:
        return "too short"
    if peak is not None and peak == peak and peak < rules.min_peak:
        return "silent"
    return ""
