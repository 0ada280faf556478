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


def _probabilities(rng, n, agree_share=0.9):
    """Model 1, Model 2 and ensemble probabilities of n files; the models agree on about agree_share."""
    p1 = rng.dirichlet(np.full(len(CLASSES), 0.3), n)
    p2 = np.where(rng.random((n, 1)) < agree_share, p1, rng.dirichlet(np.full(len(CLASSES), 0.3), n))
    return {"model1": p1, "model2": p2, "ensemble": (p1 + p2) / 2}


@pytest.mark.parametrize("share", [0.9, 0.95])
def test_thresholds_picked_on_one_half_keep_the_stated_share_of_the_other(share):
    rng = np.random.default_rng(3)
    n = 4000
    scores, probabilities = rng.beta(5, 1.5, n), _probabilities(rng, n)
    half = np.arange(n) < n // 2
    rules = calibrate_sorting_rules(scores[half], {k: v[half] for k, v in probabilities.items()}, share)
    kept = [unsorted_reason(rules, 0.5, scores[i], probabilities["ensemble"][i].max(),
                            (CLASSES[probabilities["model1"][i].argmax()], probabilities["model1"][i].max()),
                            (CLASSES[probabilities["model2"][i].argmax()], probabilities["model2"][i].max())) == ""
            for i in np.flatnonzero(~half)]
    assert rules.drum_threshold > 0 and rules.confidence_threshold > 0
    assert abs(np.mean(kept) - share) < 0.02  # held out: the stated share, within sampling error


def test_a_threshold_keeps_its_share_even_from_few_scores():
    scores = np.linspace(0, 1, 20)
    threshold = threshold_keeping(scores, 0.9)
    assert 0.05 < threshold < 0.11 and np.mean(scores >= threshold) == 0.9
    assert threshold_keeping(np.array([]), 0.9) == 0.0


def test_two_confidently_disagreeing_models_give_the_reason_in_words():
    rules = SortingRules(confidence_threshold=0.3)
    reason = unsorted_reason(rules, 0.4, 0.9, 0.52, ("kick", 0.9), ("snare", 0.8))
    assert reason == "models disagree: kick 0.90 vs snare 0.80"
    assert unsorted_reason(rules, 0.4, 0.9, 0.52, ("kick", 0.9), ("snare", 0.45)) == ""  # one model unsure


def test_reasons_never_print_a_value_equal_to_its_threshold():
    rules = SortingRules(confidence_threshold=0.5, drum_threshold=0.3)
    assert unsorted_reason(rules, 0.4, 0.9, 0.4999, ("kick", 0.5), ("kick", 0.5)) == "low confidence (0.4999 under 0.5000)"
    assert unsorted_reason(rules, 0.4, 0.12, 0.9, ("kick", 0.9), ("kick", 0.9)) == \
        "not like a drum one-shot (drum score 0.12 under 0.30)"
    assert unsorted_reason(rules, 7.25, 0.9, 0.9, ("kick", 0.9), ("kick", 0.9)) == "too long for a one-shot (7.2 s)"
    assert unsorted_reason(rules, 0.4, float("nan"), 0.9, ("kick", 0.9), ("kick", 0.9)) == ""  # no detector yet
    near_one = SortingRules(drum_threshold=0.9994)  # a threshold short of 1 never prints as 1.00
    assert unsorted_reason(near_one, 0.4, 0.85, 0.9, ("kick", 0.9), ("kick", 0.9)) == \
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
