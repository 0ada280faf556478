"""The archive's own names as evidence beside the sound: the fusion rules, the queue, the mirror."""

import pandas as pd
import pytest

from drum_pipeline.archive.rebuild import plan
from drum_pipeline.archive.reports import NAME_AGAINST_SOUND_CHANCE, review_queue
from drum_pipeline.labels.names import name_claim
from drum_pipeline.labels.taxonomy import load_taxonomy
from drum_pipeline.models.rejection import NAME_ODDS, SortingRules, named_drum_threshold, sorted_label

RULES = SortingRules(confidence_threshold=0.5, drum_threshold=0.3)


def _row(path: str, predicted: str = "tom", confidence: float = 0.91, drum_score: float = 0.9, **extra) -> dict:
    """An index row: the sound says `predicted`; the name's claim is read from `path`."""
    row = {"path": path, "pack": path.split("/")[0], "sha256": path, "status": "ok",
           "predicted_label": predicted, "predicted_fine_label": predicted, "confidence": confidence,
           "model1_label": predicted, "model1_confidence": confidence,
           "model2_label": predicted, "model2_confidence": confidence, "drum_score": drum_score, "novelty": 0.5,
           "duration": 0.4, "peak": 0.8, "duplicate_of": "", "error": "", "folder_label": "", "reason": "",
           **name_claim(load_taxonomy(), path)}
    row.update(extra)
    row["label"], row["fine_label"], row["reason"], row["label_source"] = sorted_label(row, RULES)
    return row


def test_name_and_sound_agree():
    row = _row("Pack/Toms/Floor Tom 2.wav", predicted="tom")
    assert (row["label"], row["fine_label"], row["label_source"], row["reason"]) == ("tom", "tom_low", "name", "")


def test_a_name_is_followed_against_the_sound_and_queued_with_both_claims(tmp_path):
    row = _row("Pack/Snares/hit 7.wav", predicted="tom", confidence=0.91)
    assert (row["label"], row["label_source"]) == ("snare", "name")
    queue = review_queue(pd.DataFrame([row]), tmp_path, RULES).set_index("path")
    assert queue.loc["Pack/Snares/hit 7.wav", "chance"] == NAME_AGAINST_SOUND_CHANCE
    assert "name says snare, sound says tom 0.91" in queue.loc["Pack/Snares/hit 7.wav", "why"]


def test_a_name_wins_over_the_sounds_doubt_but_not_over_the_drum_detector():
    unsure = _row("Pack/Kicks/s004.wav", predicted="tom", confidence=0.3)  # low confidence alone: still the name's
    assert (unsure["label"], unsure["label_source"]) == ("kick", "name")
    long_crash = _row("Pack/Crash 18.wav", predicted="cymbal", duration=7.5)  # a crash rings for seconds
    assert (long_crash["label"], long_crash["label_source"]) == ("cymbal", "name")
    # the name raises the odds: a score the sound alone fails (0.1 under 0.3) passes under a drum name
    assert named_drum_threshold(RULES.drum_threshold) == pytest.approx(0.3 / (0.3 + 0.7 * NAME_ODDS))
    doubtful_sound = _row("Pack/Kicks/s005.wav", predicted="kick", drum_score=0.1)
    assert (doubtful_sound["label"], doubtful_sound["label_source"]) == ("kick", "name")
    assert _row("one shots/s005.wav", predicted="kick", drum_score=0.1)["label"] == "unsorted"
    ruled_out = _row("Pack/Kicks/s007.wav", predicted="kick", drum_score=0.01, duration=9.0)
    assert (ruled_out["label"], ruled_out["label_source"]) == ("unsorted", "sound")
    assert ruled_out["reason"] == "not like a drum one-shot, whatever its name says (kick; drum score 0.01 under 0.02)"
    silent = _row("Pack/Kicks/s006.wav", predicted="kick", peak=0.0)
    assert (silent["label"], silent["reason"]) == ("unsorted", "silent")


@pytest.mark.parametrize("path", ["Pack/Loops/Kick 01.wav", "Pack/Bass/808 Sub.wav", "Pack/FX/Riser 3.wav",
                                  "Pack/one shots/Vocal Hey.wav"])
def test_a_name_of_non_drum_material_sends_the_file_to_unsorted(path):
    row = _row(path, predicted="kick", confidence=0.99)
    assert (row["label"], row["label_source"]) == ("unsorted", "name")
    assert row["reason"].startswith("the name says no drum one-shot")


def test_a_file_with_no_informative_name_is_sorted_by_sound():
    row = _row("one shots/s00421.wav", predicted="hihat")
    assert (row["label"], row["label_source"]) == ("hihat", "sound")
    # a non-drum word in the pack name says nothing of the files below it
    doubtful = _row("Bass House Kit/one shots/s9.wav", predicted="hihat", confidence=0.4)
    assert (doubtful["label"], doubtful["label_source"]) == ("unsorted", "sound")
    assert doubtful["reason"].startswith("low confidence")


def test_ignore_names_sorts_by_sound_alone_and_the_mirror_follows(tmp_path):
    rows = pd.DataFrame([_row("Pack/Snares/hit 7.wav", predicted="tom"), _row("Pack/Loops/Kick 01.wav", predicted="kick")])
    _, ledger = plan(rows, tmp_path, RULES)
    assert ledger.set_index("path")[["label", "label_source"]].to_dict("index") == {
        "Pack/Snares/hit 7.wav": {"label": "snare", "label_source": "name"},
        "Pack/Loops/Kick 01.wav": {"label": "unsorted", "label_source": "name"}}
    sound_alone = SortingRules(confidence_threshold=0.5, drum_threshold=0.3, use_names=False)
    _, ledger = plan(rows, tmp_path, sound_alone)
    assert ledger.set_index("path")[["label", "label_source", "target"]].to_dict("index") == {
        "Pack/Snares/hit 7.wav": {"label": "tom", "label_source": "sound", "target": "tom/Pack/Snares/hit 7.wav"},
        "Pack/Loops/Kick 01.wav": {"label": "kick", "label_source": "sound", "target": "kick/Pack/Loops/Kick 01.wav"}}
    queue = review_queue(rows, tmp_path, sound_alone).set_index("path")
    assert "name says snare" in queue.loc["Pack/Snares/hit 7.wav", "why"]  # the name still raises the doubt


def test_ignore_names_comes_from_the_flag_or_the_variable_and_reaches_the_assets(monkeypatch):
    from drum_pipeline.cli.commands import build_parser
    from drum_pipeline.cli.run import pipeline_run_config
    from drum_pipeline.config.settings import Settings
    from drum_pipeline.defs.resources import DrumPipelineConfig

    monkeypatch.delenv("DRUM_IGNORE_NAMES", raising=False)
    assert Settings.resolve().sorting_rules({}).use_names
    for command in ("run", "rebuild", "review", "classify x.wav"):
        assert build_parser().parse_args([*command.split(), "--ignore-names"]).ignore_names
    monkeypatch.setenv("DRUM_IGNORE_NAMES", "yes")
    assert Settings.resolve().sorting_rules({}).use_names is False
    values = pipeline_run_config()["resources"]["config"]["config"]
    assert DrumPipelineConfig(**values).settings().ignore_names  # what the assets read
    monkeypatch.setenv("DRUM_IGNORE_NAMES", "maybe")
    with pytest.raises(ValueError, match="DRUM_IGNORE_NAMES='maybe': give 1 or 0"):
        Settings.resolve()


def test_the_summary_says_where_the_labels_came_from():
    from drum_pipeline.cli.summary import archive_counts

    ledger = pd.DataFrame({"path": list("abcde"), "pack": "P", "status": ["placed"] * 4 + ["duplicate"],
                           "label": ["kick", "snare", "unsorted", "tom", "tom"], "reason": "",
                           "label_source": ["name", "name", "sound", "correction", ""]})
    assert archive_counts(ledger)["label_sources"] == {"name": 2, "sound": 1, "correction": 1}
