"""Train on one folder of real one-shots, classify another, and score the archive's labels
against the labels the second folder's own names give (the taxonomy's reading of them).

    python bench/cross_package.py LIBRARY ARCHIVE WORK_DIR

runs `drum-pipeline run` with LIBRARY as the labelled library and ARCHIVE as the archive
(outputs under WORK_DIR), then prints macro-F1 and accuracy of Model 1, Model 2, the ensemble
and a baseline (logistic regression on MFCC statistics, trained on the same library files) on
every archive file whose name the taxonomy labels. The Debian packages named in DESIGN.md
(lmms-common, sonic-pi-samples) are the intended folders; nothing of them is committed.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score

from drum_pipeline.audio.feature_cache import FeatureCache, feature_matrix, feature_table
from drum_pipeline.audio.features import FeatureParams, mfcc_from_logmel
from drum_pipeline.config.settings import Settings
from drum_pipeline.labels.names import decide_label
from drum_pipeline.labels.taxonomy import load_taxonomy
from drum_pipeline.models.evaluation import macro_f1
from drum_pipeline.models.networks import SplitData, mfcc_statistics, train_baseline


def main(library: str, archive: str, work: str) -> None:
    env = dict(os.environ, DRUM_LIBRARY_DIR=library, DRUM_ARCHIVE_DIR=archive, DRUM_OUTPUT_DIR=f"{work}/out",
               DRUM_MIN_MACRO_F1="0")
    Path(work).mkdir(parents=True, exist_ok=True)
    with open(Path(work) / "run.log", "w") as log:
        subprocess.run(["drum-pipeline", "run"], env=env, check=True, stdout=log, stderr=subprocess.STDOUT)
    settings = Settings.resolve(library, archive, f"{work}/out")
    taxonomy = load_taxonomy()
    classes = list(taxonomy.classes)
    index = settings.layout.read_partitions("archive_index")
    decisions = [decide_label(taxonomy, path) for path in index["path"]]
    index["truth"] = [d.label if d.status == "labelled" else "" for d in decisions]
    scored = index[(index["truth"] != "") & (index["status"] == "ok")].copy()
    truth = scored["truth"].map(classes.index).to_numpy()

    params = FeatureParams()
    curated = settings.layout.read_table("curated_training_set")
    with FeatureCache(settings.layout.cache_dir, params) as cache:
        train = feature_table(curated, cache, "logmel")
        test = feature_table(scored[["path", "sha256"]], cache, "logmel")
    train = train[train["error"] == ""]
    train_data = SplitData(feature_matrix(train, "logmel", params), train["label"].map(classes.index).to_numpy(),
                           train["fine_label"].to_numpy(dtype=str))
    baseline = train_baseline(train_data, params)
    test_mfcc = mfcc_from_logmel(feature_matrix(test, "logmel", params), params.n_mfcc)
    predictions = {
        "baseline": baseline.predict(mfcc_statistics(test_mfcc)),
        "model1": scored["model1_label"].map(classes.index).to_numpy(),
        "model2": scored["model2_label"].map(classes.index).to_numpy(),
        "ensemble": scored["predicted_label"].map(classes.index).to_numpy(),
    }
    print(f"trained on {len(train)} files of {library}; scored {len(scored)} labelled files of {archive} "
          f"({len(index)} in all; classes present: {sorted(set(scored['truth']))})")
    rows = [{"model": name, "macro_f1": round(macro_f1(truth, pred), 3),
             "accuracy": round(accuracy_score(truth, pred), 3)} for name, pred in predictions.items()]
    print(pd.DataFrame(rows).to_string(index=False))
    unsorted = (scored["label"] == "unsorted").mean()
    print(f"share of these labelled drums the archive puts in unsorted: {unsorted:.1%}")
    print(np.round(pd.crosstab(scored["truth"], scored["predicted_label"]), 0).to_string())


if __name__ == "__main__":
    main(*sys.argv[1:4])
