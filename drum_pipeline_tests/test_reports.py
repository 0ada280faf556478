"""What the user reads, on tiny hand-made indexes (no models): the folder report, the run summary
against the mirror's ledger and `stats`, counts in the right number, and missing folders."""

from drum_pipeline.archive.reports import folder_summary_line
from drum_pipeline.cli.summary import format_summary
from drum_pipeline.words import counted


def test_counts_are_in_the_right_number():
    assert counted(1, "Dagster run") == "1 Dagster run" and counted(2, "Dagster run") == "2 Dagster runs"
    assert counted(0, "file") == "0 files" and counted(3, "pack is", "packs are") == "3 packs are"
    one = {"files": 1, "packs": 1, "classes": {"kick": 1}, "unsorted": 0, "unsorted_by_reason": {}, "duplicates": 0,
           "errors": 0, "skipped": 0, "evaluation": {"ensemble_accuracy": 0.9, "ensemble_accuracy_interval": [0.8, 1],
                                                      "ensemble_macro_f1": 0.9, "test_files": 1},
           "outputs": {"rebuilt": "r", "index": "i", "report": "e"}, "warnings": []}
    text = format_summary(one)
    assert text.startswith("1 file in 1 pack: kick 1") and "on 1 test file," in text
    assert format_summary({**one, "files": 72, "packs": 3}).startswith("72 files in 3 packs:")
    line = folder_summary_line({"files": 1, "presorted_files": 1, "presorted_share": 1.0, "presorted_folders": 1,
                                "one_class_folders": 1, "mixed_folders": 0})
    assert line.startswith("1 of 1 classified file (100%) sit in 1 folder the owner already sorted; 1 more folder "
                           "holds one class") and "0 are mixed" in line
