"""What goes to unsorted: the drum detector, the thresholds calibrated on held-out drums, and the reasons."""


import numpy as np
import pytest

from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.labels.taxonomy import load_taxonomy
from drum_pipeline.models.rejection import (
    SortingRules,
    calibrate_sorting_rules,
    drum_scores,
    operating_curve,
    sorting_rules_from,
    threshold_keeping,
    train_drum_detector,
    unsorted_reason,
)
from drum_pipeline.models.synthetic import EVALUATION_STREAM, synthetic_negatives, synthetic_split

CLASSES = ["kick", "snare", "hihat", "tom", "cymbal", "percussion"]


def _ensemble_confidence(rng, n, agree_share=0.9):
    """The ensemble's confidence on n files: its top probability, the mean of two members'
    probabilities that agree on about agree_share."""
    p1 = rng.dirichlet(np.full(len(CLASSES), 0.3), n)
    p2 = np.where(rng.random((n, 1)) < agree_share, p1, rng.dirichlet(np.full(len(CLASSES), 0.3), n))
    return ((p1 + p2) / 2).max(axis=1)


@pytest.mark.parametrize("share", [0.9, 0.95])
def test_thresholds_picked_on_one_half_keep_the_stated_share_of_the_other(share):
    rng = np.random.default_rng(3)
    n = 4000
    scores, confidence = rng.beta(5, 1.5, n), _ensemble_confidence(rng, n)
    half = np.arange(n) < n // 2
    rules = calibrate_sorting_rules(scores[half], confidence[half], share)
    kept = [unsorted_reason(rules, 0.5, scores[i], confidence[i]) == "" for i in np.flatnonzero(~half)]
    assert rules.drum_threshold > 0 and rules.confidence_threshold > 0
    assert abs(np.mean(kept) - share) < 0.02  # held out: the stated share, within sampling error


def test_a_threshold_keeps_its_share_even_from_few_scores():
    scores = np.linspace(0, 1, 20)
    threshold = threshold_keeping(scores, 0.9)
    assert 0.05 < threshold < 0.11 and np.mean(scores >= threshold) == 0.9
    assert threshold_keeping(np.array([]), 0.9) == 0.0


def test_reasons_never_print_a_value_equal_to_its_threshold():
    rules = SortingRules(confidence_threshold=0.5, drum_threshold=0.3)
    assert unsorted_reason(rules, 0.4, 0.9, 0.4999) == "low confidence (0.4999 under 0.5000)"
    assert unsorted_reason(rules, 0.4, 0.12, 0.9) == \
        "not like a drum one-shot (drum score 0.12 under 0.30)"
    assert unsorted_reason(rules, 7.25, 0.9, 0.9) == "too long for a one-shot (7.2 s)"
    assert unsorted_reason(rules, 0.4, float("nan"), 0.9) == ""  # no detector yet
    near_one = SortingRules(drum_threshold=0.9994)  # a threshold short of 1 never prints as 1.00
    assert unsorted_reason(near_one, 0.4, 0.85, 0.9) == \
        "not like a drum one-shot (drum score 0.850 under 0.999)"


def test_the_calibrated_thresholds_are_read_and_an_explicit_threshold_wins():
    assert sorting_rules_from(None) == sorting_rules_from({}) == SortingRules()
    calibrated = {"drum_threshold": 0.4, "confidence_threshold": 0.3, "temperatures": {"model1": 1.5}}
    assert sorting_rules_from(calibrated) == SortingRules(drum_threshold=0.4, confidence_threshold=0.3)
    assert sorting_rules_from(calibrated, 0.7).confidence_threshold == 0.7


def test_the_detector_tells_synthesized_drums_from_loops_notes_and_noise_it_never_heard():
    params, taxonomy = FeatureParams(), load_taxonomy()
    drums = synthetic_split(taxonomy.fine_to_class, list(taxonomy.classes), 6, params, seed=1)
    others = synthetic_negatives(15, params, seed=1)
    detector = train_drum_detector(drums.logmel, drums.duration, others.logmel, others.duration, params)
    fresh_drums = synthetic_split(taxonomy.fine_to_class, list(taxonomy.classes), 3, params, 1, EVALUATION_STREAM)
    fresh_others = synthetic_negatives(6, params, seed=1, stream=EVALUATION_STREAM)
    curve = operating_curve(drum_scores(detector, fresh_drums.logmel, fresh_drums.duration, params),
                            drum_scores(detector, fresh_others.logmel, fresh_others.duration, params))
    keeping_most_drums = curve[curve["drums_kept"] >= 0.9].iloc[-1]
    assert keeping_most_drums["non_drums_rejected"] >= 0.8


def test_a_detector_trained_on_other_descriptors_is_refused_with_a_message():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from drum_pipeline.models.store import ModelMismatchError

    params = FeatureParams()
    drums = synthetic_split(load_taxonomy().fine_to_class, list(load_taxonomy().classes), 2, params, seed=1)
    older = HistGradientBoostingClassifier(max_iter=5).fit(np.zeros((4, 3)), [0, 1, 0, 1])  # three descriptors
    with pytest.raises(ModelMismatchError, match="retrain"):
        drum_scores(older, drums.logmel, drums.duration, params)


def _long_sounds(sr: int = 22050, seconds: float = 8.0) -> dict[str, np.ndarray]:
    """An 8 s crash (noise ringing down), loops (a hit every 0.25 s, every 1.1 s) and a pad (a held chord)."""
    rng = np.random.default_rng(5)
    t = np.arange(round(seconds * sr)) / sr
    hit = rng.normal(size=len(t)) * np.exp(-t / 0.08)
    return {"crash": (rng.normal(size=len(t)) * np.exp(-t / 1.5)).astype(np.float32),
            "loop": sum(np.roll(hit, round(start * sr)) * (t >= start) for start in np.arange(0, seconds, 0.25)),
            "slow loop": sum(np.roll(hit, round(start * sr)) * (t >= start) for start in np.arange(0, seconds, 1.1)),
            "pad": (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 277 * t)) * np.minimum(1, t / 0.05)}


def test_a_long_single_decaying_hit_is_a_one_shot_and_a_loop_or_pad_is_not():
    from drum_pipeline.audio.features import one_decaying_hit

    hits = {name: one_decaying_hit(np.asarray(sound[: 4 * 22050], np.float32), 22050)
            for name, sound in _long_sounds().items()}
    assert hits == {"crash": True, "loop": False, "slow loop": False, "pad": False}
    rules = SortingRules()
    assert unsorted_reason(rules, 8.0, 0.9, 0.9, single_hit=hits["crash"]) == ""
    assert unsorted_reason(rules, 8.0, 0.9, 0.9, single_hit=hits["loop"]) == \
        "too long for a one-shot (8.0 s, not one decaying hit)"
    assert unsorted_reason(rules, 45.0, 0.9, 0.9, single_hit=True) == "too long for a one-shot (45.0 s)"
    assert unsorted_reason(rules, 8.0, 0.9, 0.9) == "too long for a one-shot (8.0 s)"  # not known


def test_the_curation_keeps_a_long_crash_and_drops_a_long_loop(tmp_path):
    import soundfile as sf

    from drum_pipeline.labels.curation import CurationRules, one_shot_problem

    sounds = _long_sounds()
    for name in ("crash", "slow loop"):
        sf.write(tmp_path / f"{name}.wav", np.asarray(sounds[name] / np.abs(sounds[name]).max() * 0.8, np.float32), 22050)
    assert one_shot_problem(tmp_path / "crash.wav", CurationRules()) == ""
    assert one_shot_problem(tmp_path / "slow loop.wav", CurationRules()).startswith("too long")


def test_thresholds_keep_the_share_of_every_group_of_held_out_drums():
    rng = np.random.default_rng(8)
    easy, real = rng.uniform(0.999, 1.0, 3000), rng.beta(4, 2, 100)  # synthesized drums all near 1, real ones not
    scores, groups = np.concatenate([easy, real]), np.r_[np.zeros(3000), np.ones(100)]
    confidence = _ensemble_confidence(rng, len(scores), agree_share=1.0)
    alone = calibrate_sorting_rules(scores, confidence, 0.95)
    assert np.mean(real >= alone.drum_threshold) < 0.3  # the pooled quantile fails most real drums
    grouped = calibrate_sorting_rules(scores, confidence, 0.95, groups=groups)
    assert np.mean(real >= grouped.drum_threshold) >= 0.97
    kept = np.array([unsorted_reason(grouped, 0.5, score, sure) == ""
                     for score, sure in zip(scores, confidence, strict=True)])
    assert kept[3000:].mean() >= 0.94 and kept[:3000].mean() >= 0.94
