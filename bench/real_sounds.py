"""Leave-one-source-out accuracy on real sounds: train on the other Debian sources, sort the held-out one.

    python bench/real_sounds.py --work-dir data/real_sounds [--max-epochs N] [--sources fluid,opl3]

builds (or reuses) the real-sound corpus of `bench/real_sounds_truth.csv` under WORK_DIR/corpus
(packages are fetched with apt-get into WORK_DIR/packages), then for each held-out source (all,
or those of --sources): the library is the other sources' drums and non-drums, the archive is
the held-out source's, both hard links into WORK_DIR/folds/<source>/ (the pipeline does not
follow links that lead out of its folders); it runs `drum-pipeline run` on them (a fresh output
folder each time, DRUM_MIN_MACRO_F1=0, DRUM_MAX_EPOCHS=N when given; caches shared across folds
in WORK_DIR/cache, DRUM_BASE_CORPUS_EXCLUDE=<the held-out source>: no training hears it) and
scores the archive index against the truth (`fold_score`), twice: by sound alone
(DRUM_IGNORE_NAMES=1: the corpus's folders name the truth), and with the same models under the
files' own names (own_names). Prints Markdown tables per source and pooled (all held-out files
of the recorded sources together; the rendered DrumSynth presets apart), and how the review
queue finds the mistakes, and writes WORK_DIR/bench.json. `--rescore` scores the folds' last
runs again (after a truth fix) without training. With DRUM_ACCURATE=1 every fold runs in the
accurate mode (audio/embeddings.py). It downloads packages and trains models: not for CI.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from drum_pipeline.real_sounds import corpus as real_corpus
from drum_pipeline.real_sounds.corpus import RENDERED_SOURCES, SOURCES, CorpusError

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


def own_names(truth: pd.DataFrame) -> dict[str, str]:
    """Each corpus path's place under its own name, as a user's archive would hold it: a package's
    file under its last folder and file name ("lmms/drums/clap01.ogg"), a soundfont's sample under
    its sample name ("fluid/808 High Conga.wav", "timgm6mb/Bass Drum New.wav"); not the corpus's class
    folders."""
    named, taken = {}, set()
    for row in truth.itertuples(index=False):
        suffix = Path(row.path).suffix
        if "#" in row.origin:
            # "'Power Kick 3(L)' keys 35,36"; a rendered kit's note: "kit 0 'Standard' key 35 (...): Bass Drum New"
            sample = re.search(r"\): (.+)$", str(row.detail)) or re.search(r"'([^']*)'", str(row.detail))
            relative = real_corpus.safe_name(sample.group(1) if sample else Path(row.path).stem) + suffix
        else:
            origin = Path(row.origin)  # under the corpus file's suffix: stk's .raw waves are written as WAV
            relative = f"{origin.parent.name}/{origin.stem}{suffix}"
        path, copy = f"{row.source}/{relative}", 2
        while path.lower() in taken:  # two samples of one name
            path, copy = f"{row.source}/{Path(relative).stem} ({copy}){suffix}", copy + 1
        taken.add(path.lower())
        named[row.path] = path
    return named


def library_paths(truth: pd.DataFrame, held_out: str) -> list[str]:
    """The corpus paths of a fold's library: every source's but the held-out one's."""
    return truth.loc[truth["source"] != held_out, "path"].tolist()


def fold_environment(held_out: str, work: Path, max_epochs: int | None) -> dict:
    """The environment of a fold's runs: the held-out source left out of the base corpus too
    (DRUM_BASE_CORPUS_EXCLUDE), no macro-F1 floor, the shared caches, names ignored (the sort by sound)."""
    env = dict(os.environ, DRUM_MIN_MACRO_F1="0", DRUM_CACHE_DIR=str((work / "cache").resolve()), DRUM_IGNORE_NAMES="1",
               DRUM_BASE_CORPUS_EXCLUDE=held_out)
    env.pop("DAGSTER_HOME", None)
    if max_epochs:
        env["DRUM_MAX_EPOCHS"] = str(max_epochs)
    return env


def _run(fold: Path, log_name: str, library: Path, archive: Path, output: Path, env: dict) -> pd.DataFrame:
    """`drum-pipeline run` on one fold's library and archive; the archive index it leaves."""
    command = ["drum-pipeline", "run", "--library", str(library), "--archive", str(archive), "--output", str(output)]
    with open(fold / log_name, "w") as log:
        done = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    index = read_index(output) if done.returncode == 0 else None
    if index is None:
        raise CorpusError(f"drum-pipeline run failed for the fold {fold.name}: see {fold / log_name}")
    return index


def run_fold(held_out: str, truth: pd.DataFrame, corpus: Path, work: Path, max_epochs: int | None,
             rescore: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on every source but `held_out`, sort `held_out` twice: by sound alone (the corpus's
    paths, DRUM_IGNORE_NAMES=1: its folders name the truth) and under the files' own names
    (own_names; the same models). Returns both archive indexes, with corpus paths (with `rescore`,
    those of the fold's last run, when there are some)."""
    fold = work / "folds" / held_out
    library, archive, output = fold / "library", fold / "archive", fold / "output"
    kept = {way: fold / f"index_{way}.parquet" for way in ("sound", "names")}
    if rescore and all(path.exists() for path in kept.values()):
        return pd.read_parquet(kept["sound"]), pd.read_parquet(kept["names"])
    held = truth[truth["source"] == held_out]
    link_tree(corpus, library_paths(truth, held_out), library)
    link_tree(corpus, held["path"].tolist(), archive)
    if output.exists():
        shutil.rmtree(output)  # a model deployed by an earlier run must not stand in for this fold's
    env = fold_environment(held_out, work, max_epochs)
    started = time.monotonic()
    by_sound = _run(fold, "run.log", library, archive, output, env)
    by_sound.to_parquet(kept["sound"])
    named = own_names(held)
    link_tree(corpus, [], fold / "archive_named")
    for path, name in named.items():
        (fold / "archive_named" / name).parent.mkdir(parents=True, exist_ok=True)
        os.link(corpus / path, fold / "archive_named" / name)
    # the same models (nothing to train): the packs are classified again, under their own names
    by_name = _run(fold, "run_named.log", library, fold / "archive_named", output, dict(env, DRUM_IGNORE_NAMES="0"))
    back = {name: path for path, name in named.items()}
    by_name = by_name.assign(path=by_name["path"].map(back))
    by_name.to_parquet(kept["names"])
    print(f"{held_out}: trained and sorted twice in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return by_sound, by_name


def review_ranking(output: Path, by_sound: pd.DataFrame, by_name: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """How the fold's review queue finds the sort's mistakes: the base rate of wrong sorts, and the
    share wrong among the queue's first files (its first 50 and its first 10% of the fold's
    files), for the sort by sound alone (the corpus's folder names blanked: they name the truth)
    and for the sort under the files' own names."""
    from drum_pipeline.archive.reports import review_queue
    from drum_pipeline.models.mistakes import sort_is_wrong
    from drum_pipeline.models.rejection import sorting_rules_from

    thresholds = json.loads((output / "tables" / "sorting_thresholds.json").read_text())
    truth_of = truth.set_index("path")["label"]
    result = {}
    for way, index, use_names in (("sound", by_sound.assign(folder_label="", name_label=""), False),
                                  ("names", by_name, True)):
        rows = index[index["status"] == "ok"]
        wrong = dict(zip(rows["path"], sort_is_wrong(rows["label"], rows["path"].map(truth_of)), strict=True))
        queue = review_queue(rows, output, sorting_rules_from(thresholds, use_names=use_names),
                             thresholds.get("mistakes"))
        flags = queue["path"].map(wrong).astype(bool)
        result.update({"files": len(rows), "first_tenth": max(1, len(rows) // 10), f"{way}_wrong": int(sum(wrong.values())),
                       f"{way}_queue": len(queue), f"{way}_first_50": int(min(50, len(queue))),
                       f"{way}_first_50_wrong": int(flags.head(50).sum())})
        result[f"{way}_first_tenth_wrong"] = int(flags.head(result["first_tenth"]).sum())
    return result


def ranking_markdown(rankings: dict[str, dict]) -> str:
    """The review queue's figures per fold and pooled, for the sort by sound and under own names."""
    lines = ["| held out | files | wrong (sound / names) | queue | first 10% wrong: sound | names "
             "| first 50 wrong: sound | names |", "| --- |" + " ---: |" * 7]
    recorded = [r for name, r in rankings.items() if name not in RENDERED_SOURCES]
    pooled = {key: sum(r[key] for r in recorded) for key in next(iter(rankings.values()))}

    def share(wrong: int, count: int) -> str:
        return f"{wrong}/{count} ({wrong / max(1, count):.0%})"

    for name, r in {**rankings, "pooled": pooled}.items():
        cells = [share(r["sound_wrong"], r["files"]) + " / " + share(r["names_wrong"], r["files"]),
                 f"{r['sound_queue']} / {r['names_queue']}",
                 *(share(r[f"{w}_first_tenth_wrong"], r["first_tenth"]) for w in ("sound", "names")),
                 *(share(r[f"{w}_first_50_wrong"], r[f"{w}_first_50"]) for w in ("sound", "names"))]
        lines.append(f"| {name} | {r['files']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


SHAKERS = ("shaker", "tambourine", "maraca", "cabasa")


def fold_score(index: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """real_corpus.score, with the cymbal line (cymbals whose final label is cymbal), the shakers
    and tambourines the ensemble calls hihat, and the share of drums sorted by their name."""
    result = real_corpus.score(index, truth)
    drums = truth[truth["kind"] == "drum"].merge(index[["path", "status", "label", "predicted_label", "label_source"]],
                                                 on="path", how="left", suffixes=("_truth", ""))
    final = drums["label"].where(drums["status"] == "ok", "unsorted")
    cymbals, shakers = drums["label_truth"] == "cymbal", drums["fine_label"].isin(SHAKERS)
    result["confusions"].update(cymbal=int(cymbals.sum()),
                                cymbal_sorted_as_cymbal=int((cymbals & (final == "cymbal")).sum()),
                                shaker=int(shakers.sum()),
                                shaker_as_hihat=int((shakers & (drums["predicted_label"] == "hihat")).sum()))
    result["drums_by_name_share"] = round(float((drums["label_source"] == "name").mean()), 4) if len(drums) else 0.0
    return result


def markdown(results: dict[str, dict]) -> str:
    """The results as a Markdown table, one row per held-out source and one pooled."""
    head = ["held out", "drums", "non-drums"] + [title for _, title in COLUMNS] + [
        "cymbals as cymbal", "clap as snare", "shaker/tambourine as hihat", "rim/sidestick not snare",
        "open hihat as cymbal", "cymbal as hihat"]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]

    def cell(value) -> str:
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    for name, result in results.items():
        c = result["confusions"]
        cells = [name, result["drums"], result["non_drums"], *(result[key] for key, _ in COLUMNS),
                 f"{c['cymbal_sorted_as_cymbal']}/{c['cymbal']}", f"{c['clap_as_snare']}/{c['clap']}",
                 f"{c['shaker_as_hihat']}/{c['shaker']}", f"{c['rim_sidestick_not_snare']}/{c['rim_sidestick']}",
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
        results, named_results, rankings = {}, {}, {}
        indexes: dict[str, list[pd.DataFrame]] = {"sound": [], "names": []}
        for source in held_out:
            by_sound, by_name = run_fold(source, truth, work / "corpus", work, args.max_epochs, args.rescore)
            results[source] = fold_score(by_sound, truth[truth["source"] == source])
            named_results[source] = fold_score(by_name, truth[truth["source"] == source])
            rankings[source] = review_ranking(work / "folds" / source / "output", by_sound, by_name, truth)
            indexes["sound"].append(by_sound)
            indexes["names"].append(by_name)
        recorded = [source for source in held_out if source not in RENDERED_SOURCES]
        if len(recorded) > 1:  # the rendered sources (DrumSynth presets) are reported apart
            pooled_truth = truth[truth["source"].isin(recorded)]
            results["pooled"] = fold_score(pd.concat(indexes["sound"], ignore_index=True), pooled_truth)
            named_results["pooled"] = fold_score(pd.concat(indexes["names"], ignore_index=True), pooled_truth)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"By sound alone:\n\n{markdown(results)}")
    print(f"\nUnder the files' own names:\n\n{markdown(named_results)}")
    print("\nDrums sorted by their name: " + ", ".join(f"{name} {r['drums_by_name_share']:.0%}"
                                                     for name, r in named_results.items()))
    print(f"\nThe review queue (wrong sorts among its first files):\n\n{ranking_markdown(rankings)}")
    report = {"max_epochs": args.max_epochs, "rescored": args.rescore, "accurate": os.environ.get("DRUM_ACCURATE", ""),
              "held_out": held_out, "truth": str(args.truth),
              "results": results, "own_names": named_results, "review_queue": rankings}
    (work / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {work / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
