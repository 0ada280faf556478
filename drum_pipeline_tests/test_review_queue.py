"""The review queue: the chance of a mistake learned where the truth is known, and which files are doubts."""

import numpy as np
import pandas as pd

from drum_pipeline.archive.reports import FIRST_LOOK, NAME_DISAGREES_CHANCE, review_queue, review_summary_line
from drum_pipeline.models.mistakes import (
    FEATURES,
    fit_mistake_model,
    mistake_chance,
    sort_is_wrong,
    sorted_rows,
    top_share_wrong,
)
from drum_pipeline.models.rejection import SortingRules

CLASSES = ["kick", "snare", "hihat", "tom", "cymbal", "percussion"]


def _rows(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Index rows where a sort is wrong more often when the models disagree and the detector doubts:
    the kind of file a reviewer should hear first. The confidence alone says little."""
    rng = np.random.default_rng(seed)
    predicted = rng.choice(CLASSES, n)
    disagree = rng.random(n) < 0.4
    drum_score = rng.random(n)
    wrong = rng.random(n) < np.where(disagree, 0.5, 0.05) + 0.4 * (drum_score < 0.3)
    rows = pd.DataFrame({
        "path": [f"P/{i}.wav" for i in range(n)], "pack": "P", "status": "ok", "label": predicted,
        "predicted_label": predicted, "confidence": rng.uniform(0.3, 1.0, n),
        "model1_label": predicted, "model1_confidence": rng.uniform(0.3, 1.0, n),
        "model2_label": np.where(disagree, np.roll(predicted, 2), predicted), "model2_confidence": rng.uniform(0.3, 1, n),
        "drum_score": drum_score, "novelty": rng.uniform(0, 2, n), "duration": rng.uniform(0.1, 3, n),
        "folder_label": "", "reason": "", "uri": ""})
    return rows, sort_is_wrong(rows["label"], pd.Series(np.where(wrong, "non_drum", predicted)))  # wrong: not a drum


def test_a_sort_is_wrong_when_a_drum_misses_its_class_or_a_non_drum_is_sorted():
    labels = pd.Series(["kick", "unsorted", "snare", "unsorted", "tom"])
    truth = pd.Series(["kick", "kick", "tom", "non_drum", "non_drum"])
    assert sort_is_wrong(labels, truth).tolist() == [False, True, True, False, True]


def test_the_learned_chance_ranks_held_out_mistakes_first():
    train, train_wrong = _rows(400, seed=1)
    model = fit_mistake_model(train, train_wrong)
    assert model["features"] == FEATURES and model["wrong"] == int(train_wrong.sum())
    test, test_wrong = _rows(400, seed=2)
    chance = mistake_chance(model, test)
    count = len(test) // 10
    assert top_share_wrong(chance, test_wrong, count) >= 2 * test_wrong.mean()
    assert top_share_wrong(mistake_chance(None, test), test_wrong, count) < 1.5 * test_wrong.mean()  # the doubt alone


def test_too_few_mistakes_teach_nothing_and_the_queue_falls_back_to_the_doubt():
    rows, _ = _rows(50, seed=3)
    wrong = np.zeros(len(rows), bool)
    wrong[:4] = True
    assert fit_mistake_model(rows, wrong) is None
    assert np.allclose(mistake_chance(None, rows), 1 - rows["confidence"])
    assert np.allclose(mistake_chance({"features": ["old"]}, rows), 1 - rows["confidence"])  # another release's model


def test_held_out_sounds_become_rows_sorted_by_the_rules():
    predictions = {"predicted_label": np.array(["kick", "snare"]), "confidence": np.array([0.9, 0.9]),
                   "model1_label": np.array(["kick", "snare"]), "model1_confidence": np.array([0.9, 0.9]),
                   "model2_label": np.array(["kick", "snare"]), "model2_confidence": np.array([0.9, 0.9])}
    rows = sorted_rows(predictions, np.array([0.9, 0.1]), np.array([0.5, 0.5]), np.array([0.5, 0.5]),
                       SortingRules(drum_threshold=0.5))
    assert rows["label"].tolist() == ["kick", "unsorted"] and rows["reason"].iloc[1].startswith("not like a drum")


def test_the_queue_orders_by_chance_keeps_agreed_files_out_and_trusts_a_disagreeing_name(tmp_path):
    rows, wrong = _rows(200, seed=4)
    model = fit_mistake_model(rows, wrong)
    rows.loc[0, ["folder_label", "label", "predicted_label", "model1_label", "model2_label"]] = ["snare", "kick",
                                                                                                 "kick", "kick", "kick"]
    rows.loc[0, ["confidence", "drum_score"]] = [0.99, 0.99]  # a sure sound the name contradicts
    rows.loc[1, ["folder_label", "label", "predicted_label", "model1_label", "model2_label"]] = ["tom"] * 5
    rows.loc[1, ["drum_score"]] = [0.05]  # the name and both models agree: no doubt, whatever the chance
    rows.loc[2, ["label_source"]] = "correction"
    queue = review_queue(rows, tmp_path, mistakes=model)
    assert queue["chance"].is_monotonic_decreasing and queue["rank"].tolist() == list(range(1, len(queue) + 1))
    first = queue.set_index("path").loc["P/0.wav"]
    assert first["chance"] >= NAME_DISAGREES_CHANCE and "name says snare" in first["why"]
    assert not {"P/1.wav", "P/2.wav"} & set(queue["path"])
    chance = mistake_chance(model, rows)
    assert (queue["chance"].iloc[1:] >= 0.25).all() and len(queue) < len(rows)
    assert len(queue) == 1 + int(((chance >= 0.25) & (rows["path"] != "P/0.wav") & ~rows.index.isin([1, 2])).sum())


def test_the_summary_says_how_many_more_are_doubtful():
    expected = f"{FIRST_LOOK} files worth a look first (of 120 doubtful)"
    assert review_summary_line(pd.DataFrame({"path": range(120)})) == expected
    assert review_summary_line(pd.DataFrame({"path": range(3)})) == "3 doubtful files worth a look"
    assert review_summary_line(pd.DataFrame({"path": range(1)})) == "1 doubtful file worth a look"


def test_confidently_disagreeing_models_leave_a_file_sorted_and_in_the_queue(tmp_path):
    from drum_pipeline.models.rejection import sorted_label

    rows, _ = _rows(3, seed=5)
    rows = rows.assign(name_label="", label_source="sound")
    rows.loc[0, ["predicted_label", "model1_label", "model2_label"]] = ["cymbal", "cymbal", "hihat"]
    rows.loc[0, ["confidence", "model1_confidence", "model2_confidence", "drum_score"]] = [0.6, 0.93, 0.9, 0.99]
    rules = SortingRules(confidence_threshold=0.4, drum_threshold=0.1)
    label, _, reason, source = sorted_label(rows.iloc[0].to_dict(), rules)
    assert (label, reason, source) == ("cymbal", "", "sound")  # the ensemble decides; the CNNs' doubt is for review
    rows.loc[0, ["label", "reason"]] = [label, reason]
    queued = review_queue(rows, tmp_path, rules).set_index("path")
    assert "models disagree" in queued.loc["P/0.wav", "why"]
