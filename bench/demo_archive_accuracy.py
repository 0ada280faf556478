"""How well the archive index of the demo archive matches the demo's truth.

    python bench/demo_archive_accuracy.py [OUTPUT_DIR] [ARCHIVE_DIR]

(defaults: data/output, data/archive) prints the share of decodable drum files whose class is
right (also weighted like the test split's voices), how many were placed in a class folder and
how many of those are right, where the non-drum files went, fine-label accuracy, the ledger's
counts, and the evaluation's figures (on the test split, and on fresh renders of every voice,
also weighted like the archive's voices).
"""

import json
import sys
from pathlib import Path

import pandas as pd

from drum_pipeline.demo.data import read_manifest
from drum_pipeline.labels.taxonomy import load_taxonomy


def main(output: str = "data/output", archive: str = "data/archive") -> None:
    taxonomy = load_taxonomy()
    truth = {row["relpath"]: row for row in read_manifest(archive)}
    index = pd.read_parquet(Path(output) / "tables/archive_index")
    index["kind"] = index["path"].map(lambda p: truth[p]["kind"])
    ok = index[index["status"] == "ok"]
    drums = ok[ok["kind"] == "drum"]
    voice = drums["path"].map(lambda p: truth[p]["fine_label"])
    true_class = voice.map(taxonomy.fine_to_class)
    class_right = drums["predicted_label"] == true_class
    placed = drums[drums["label"] != "unsorted"]
    print(f"decodable drum files: {len(drums)}, class right: {class_right.mean():.3f}")
    print(f"placed in a class folder: {len(placed)} ({len(placed) / len(drums):.1%}), "
          f"right: {(placed['label'] == true_class[placed.index]).mean():.3f}")
    non_drum = ok[ok["kind"].isin(["loop", "fx", "bass", "melodic", "vocal"])]
    print(f"non-drum files: {len(non_drum)}, in unsorted: {int((non_drum['label'] == 'unsorted').sum())}")
    # The archive draws every voice about evenly; the test split holds the voices its packs have. The same
    # accuracy, weighted by the test split's share of each fine label, tells composition from domain.
    curated = pd.read_parquet(Path(output) / "tables/curated_training_set.parquet")
    test_share = curated.loc[curated["split"] == "test", "fine_label"].value_counts(normalize=True)
    right = class_right.groupby(voice).mean()
    covered = test_share.index.intersection(right.index)
    print(f"class right on the test split's voices ({len(covered)} of {len(right)}), weighted as the test split: "
          f"{(right[covered] * test_share[covered]).sum() / test_share[covered].sum():.3f}; "
          f"worst voices: {right.sort_values().head(5).round(2).to_dict()}")
    fine_right = (drums["fine_label"] == voice).mean()
    print(f"fine label right: {fine_right:.3f}")
    ledger = pd.read_parquet(Path(output) / "tables/rebuilt_archive.parquet")
    print(f"ledger: {ledger['status'].value_counts().to_dict()}, archive files: {len(truth)}")
    report = json.loads((Path(output) / "reports/evaluation.json").read_text())
    for title, results in (("test split", report["results"]), ("every voice", report["every_voice"]["results"])):
        for name, result in results.items():
            print(f"evaluation, {title}, {name}: macro-F1 {result['macro_f1']:.3f}, accuracy {result['accuracy']:.3f} "
                  "(95% interval {:.3f}-{:.3f})".format(*result["accuracy_interval"]))
    # The archive's voices are not quite even (its pre-sorted folders hold a few voices): the
    # evaluation's per-voice shares on the renders, weighted like the archive's voices.
    renders = pd.DataFrame(report["every_voice"]["voices"]).set_index("voice")["ensemble"]
    archive_voices = voice.value_counts()
    print(f"archive, its voices evenly weighted: {right.mean():.3f}; evaluation's renders, weighted like the "
          f"archive's voices: {(renders[archive_voices.index] * archive_voices).sum() / archive_voices.sum():.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
