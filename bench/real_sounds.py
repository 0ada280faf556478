"""Leave-one-source-out accuracy on real sounds: train on the other Debian sources, sort the held-out one.

    python bench/real_sounds.py --work-dir data/real_sounds [--max-epochs N] [--sources fluid,opl3]

builds (or reuses) the real-sound corpus of `bench/real_sounds_truth.csv` under WORK_DIR/corpus
(packages are fetched with apt-get into WORK_DIR/packages), then for each held-out source (all,
or those of --sources): the library is the other sources' drums and non-drums, the archive is
the held-out source's, both hard links into WORK_DIR/folds/<source>/ (the pipeline does not
follow links that lead out of its folders); it runs `drum-pipeline run` on them (a fresh output
folder each time, DRUM_MIN_MACRO_F1=0, DRUM_IGNORE_NAMES=1, DRUM_MAX_EPOCHS=N when given; caches shared across folds
in WORK_DIR/cache) and scores the archive index against the truth (`real_corpus.score`).
Prints a Markdown table per source and pooled (all held-out files together) and writes
WORK_DIR/bench.json. `--rescore` scores the folds' last runs again (after a truth fix) without
training. It downloads packages and trains models: not for CI.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from drum_pipeline.real_sounds import corpus as real_corpus
from drum_pipeline.real_sounds.corpus import SOURCES, CorpusError

COLUMNS = [("final_macro_f1", "final F1"), ("ensemble_macro_f1", "ensemble F1"), ("model1_macro_f1", "model 1 F1"),
           ("model2_macro_f1", "model 2 F1"), ("drums_unsorted_share", "drums unsorted"),
           ("non_drums_rejected_share", "non-drums rejected")]


def link_tree(corpus: Path, paths: list[str], target: Path) -> None:
    """`target/<path>` for every corpus path: a hard link (a copy across file systems)."""
    if target.exists():
        shutil.rmtree(target)
    for path in paths:
        destination = target / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(corpus / path, destination)
        except OSError:
            shutil.copy2(corpus / path, destination)


def read_index(output: Path) -> pd.DataFrame | None:
    """The archive index under an output folder, or None when there is none."""
    files = sorted((output / "tables" / "archive_index").glob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else None


def run_fold(held_out: str, truth: pd.DataFrame, corpus: Path, work: Path, max_epochs: int | None,
             rescore: bool = False) -> pd.DataFrame:
    """Train on every source but `held_out`, sort `held_out`; its archive index (with `rescore`,
    the index of the fold's last run, when there is one)."""
    fold = work / "folds" / held_out
    library, archive, output = fold / "library", fold / "archive", fold / "output"
    if rescore and (index := read_index(output)) is not None:
        return index
    link_tree(corpus, truth.loc[truth["source"] != held_out, "path"].tolist(), library)
    link_tree(corpus, truth.loc[truth["source"] == held_out, "path"].tolist(), archive)
    if output.exists():
        shutil.rmtree(output)  # a model deployed by an earlier run must not stand in for this fold's
    # the sound alone: the corpus's folders name the truth (DRUM_IGNORE_NAMES)
    env = dict(os.environ, DRUM_MIN_MACRO_F1="0", DRUM_CACHE_DIR=str((work / "cache").resolve()), DRUM_IGNORE_NAMES="1")
    env.pop("DAGSTER_HOME", None)
    if max_epochs:
        env["DRUM_MAX_EPOCHS"] = str(max_epochs)
    command = ["drum-pipeline", "run", "--library", str(library), "--archive", str(archive), "--output", str(output)]
    started = time.monotonic()
    with open(fold / "run.log", "w") as log:
        done = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise CorpusError(f"drum-pipeline run failed for the fold holding out {held_out}: see {fold / 'run.log'}")
    index = read_index(output)
    if index is None:
        raise CorpusError(f"no archive index under {output / 'tables/archive_index'}: see {fold / 'run.log'}")
    print(f"{held_out}: trained and sorted in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return index


def review_ranking(output: Path, index: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """How the fold's review queue finds the sort's mistakes: the base rate of wrong sorts, and the
    share wrong among the queue's first files (its first 50 and its first 10% of the fold's
    files), with the archive's folder names and without them (the sound alone: in this corpus
    the folders name the truth)."""
    from drum_pipeline.archive.reports import review_queue
    from drum_pipeline.models.mistakes import sort_is_wrong
    from drum_pipeline.models.rejection import sorting_rules_from

    thresholds = json.loads((output / "tables" / "sorting_thresholds.json").read_text())
    rows = index[index["status"] == "ok"]
    truth_of = truth.set_index("path")["label"]
    wrong = dict(zip(rows["path"], sort_is_wrong(rows["label"], rows["path"].map(truth_of)), strict=True))
    first_tenth = max(1, len(rows) // 10)
    result = {"files": len(rows), "wrong": int(sum(wrong.values())), "first_tenth": first_tenth}
    for way, named in (("names", rows), ("sound", rows.assign(folder_label="", name_label=""))):
        queue = review_queue(named, output, sorting_rules_from(thresholds, use_names=False), thresholds.get("mistakes"))
        flags = queue["path"].map(wrong)
        result[f"{way}_queue"] = len(queue)
        result[f"{way}_first_50_wrong"] = int(flags.head(50).sum())
        result[f"{way}_first_50"] = int(min(50, len(queue)))
        result[f"{way}_first_tenth_wrong"] = int(flags.head(first_tenth).sum())
    return result


def ranking_markdown(rankings: dict[str, dict]) -> str:
    """The review queue's figures per fold and pooled."""
    lines = ["| held out | files | wrong | queue (names / sound) | first 10%: wrong, names | sound "
             "| first 50: wrong, names | sound |", "| --- |" + " ---: |" * 7]
    pooled = {key: sum(r[key] for r in rankings.values()) for key in next(iter(rankings.values()))}

    def share(wrong: int, count: int) -> str:
        return f"{wrong}/{count} ({wrong / max(1, count):.0%})"

    for name, r in {**rankings, "pooled": pooled}.items():
        tenth = [share(r[f"{w}_first_tenth_wrong"], r["first_tenth"]) for w in ("names", "sound")]
        fifty = [share(r[f"{w}_first_50_wrong"], r[f"{w}_first_50"]) for w in ("names", "sound")]
        lines.append(f"| {name} | {r['files']} | {share(r['wrong'], r['files'])} | "
                     f"{r['names_queue']} / {r['sound_queue']} | {' | '.join(tenth)} | {' | '.join(fifty)} |")
    return "\n".join(lines)


def markdown(results: dict[str, dict]) -> str:
    """The results as a Markdown table, one row per held-out source and one pooled."""
    head = ["held out", "drums", "non-drums"] + [title for _, title in COLUMNS] + [
        "clap as snare", "rim/sidestick not snare", "open hihat as cymbal", "cymbal as hihat"]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]

    def cell(value) -> str:
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    for name, result in results.items():
        c = result["confusions"]
        cells = [name, result["drums"], result["non_drums"], *(result[key] for key, _ in COLUMNS),
                 f"{c['clap_as_snare']}/{c['clap']}", f"{c['rim_sidestick_not_snare']}/{c['rim_sidestick']}",
                 f"{c['open_hihat_as_cymbal']}/{c['open_hihat']}", c["cymbal_as_hihat"]]
        lines.append("| " + " | ".join(cell(v) for v in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path("data/real_sounds"), help="default: data/real_sounds")
    parser.add_argument("--max-epochs", type=int, help="cap training epochs (DRUM_MAX_EPOCHS), for quick runs")
    parser.add_argument("--sources", help=f"held-out sources to run (default: all of {','.join(SOURCES)})")
    parser.add_argument("--truth", type=Path, default=real_corpus.DEFAULT_TRUTH_PATH, help="the truth file")
    parser.add_argument("--rescore", action="store_true",
                        help="score the folds' last runs again (after a truth fix) instead of running them")
    args = parser.parse_args(argv)
    work: Path = args.work_dir
    held_out = args.sources.split(",") if args.sources else list(SOURCES)
    try:
        unknown = sorted(set(held_out) - set(SOURCES))
        if unknown:
            raise CorpusError(f"unknown source {unknown[0]!r}; the sources are {', '.join(SOURCES)}")
        if shutil.which("drum-pipeline") is None:
            raise CorpusError("the drum-pipeline command is not on PATH: pip install -e . first")
        entries = real_corpus.read_truth(args.truth)
        problems = real_corpus.build_corpus(work / "corpus", entries, work / "packages")
        for problem in problems:
            print(f"warning: {problem}", file=sys.stderr)
        truth = real_corpus.truth_table(entries)
        results, indexes, rankings = {}, [], {}
        for source in held_out:
            index = run_fold(source, truth, work / "corpus", work, args.max_epochs, args.rescore)
            results[source] = real_corpus.score(index, truth[truth["source"] == source])
            rankings[source] = review_ranking(work / "folds" / source / "output", index, truth)
            indexes.append(index)
        if len(indexes) > 1:
            results["pooled"] = real_corpus.score(pd.concat(indexes, ignore_index=True),
                                                  truth[truth["source"].isin(held_out)])
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(markdown(results))
    print(f"\nThe review queue (wrong sorts among its first files):\n\n{ranking_markdown(rankings)}")
    report = {"max_epochs": args.max_epochs, "rescored": args.rescore, "held_out": held_out, "truth": str(args.truth),
              "results": results, "review_queue": rankings}
    (work / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {work / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
