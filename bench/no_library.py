"""A user with no library of their own: one real source sorted by the models the demo library and
the base corpus (without that source) train.

    python bench/no_library.py --work-dir data/real_sounds [--source lmms] [--max-epochs N]

builds (or reuses) the real-sound corpus under WORK_DIR (as bench/real_sounds.py does), writes the
demo library to WORK_DIR/no_library/library, and sorts the source's files as an archive twice with
`drum-pipeline run` (DRUM_BASE_CORPUS_EXCLUDE=SOURCE, so no training hears them): under their own
names (the package's folder and file name) and anonymised (`s00001.wav`, ...: the sound alone).
Prints, for each way, the share of the source's drums in the right class folder and in
`unsorted`, and the share of its non-drums rejected. DRUM_ACCURATE=1 runs it in the accurate mode.
It downloads packages and trains: not for CI.
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from real_sounds import own_names, read_index  # noqa: E402

from drum_pipeline.demo.data import make_demo_library  # noqa: E402
from drum_pipeline.real_sounds import corpus as real_corpus  # noqa: E402
from drum_pipeline.real_sounds.corpus import CorpusError  # noqa: E402


def place(corpus: Path, names: dict[str, str], archive: Path) -> None:
    """`archive/<name>` for every corpus path and its name (hard links)."""
    if archive.exists():
        shutil.rmtree(archive)
    for path, name in names.items():
        (archive / name).parent.mkdir(parents=True, exist_ok=True)
        os.link(corpus / path, archive / name)


def shares(index: pd.DataFrame, names: dict[str, str], truth: pd.DataFrame) -> dict:
    """Drums right and unsorted, non-drums rejected, of an index whose paths are `names`' values."""
    back = {name: path for path, name in names.items()}
    rows = index.assign(path=index["path"].map(back)).merge(truth[["path", "kind", "label"]], on="path",
                                                             suffixes=("", "_truth"))
    drums, others = rows[rows["kind"] == "drum"], rows[rows["kind"] == "non_drum"]
    return {"drums": len(drums), "right": float((drums["label"] == drums["label_truth"]).mean()),
            "unsorted": float((drums["label"] == "unsorted").mean()), "non_drums": len(others),
            "rejected": float((others["label"] == "unsorted").mean()) if len(others) else float("nan")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path("data/real_sounds"))
    parser.add_argument("--source", default="lmms")
    parser.add_argument("--max-epochs", type=int)
    args = parser.parse_args(argv)
    work, fold = args.work_dir, args.work_dir / "no_library"
    try:
        entries = real_corpus.read_truth(real_corpus.DEFAULT_TRUTH_PATH)
        real_corpus.build_corpus(work / "corpus", entries, work / "packages", sources=[args.source])
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    truth = real_corpus.truth_table(entries)
    held = truth[truth["source"] == args.source]
    if not (fold / "library").exists():
        make_demo_library(fold / "library")
    output = fold / "output"
    if output.exists():
        shutil.rmtree(output)
    env = dict(os.environ, DRUM_BASE_CORPUS_EXCLUDE=args.source, DRUM_CACHE_DIR=str((work / "cache").resolve()))
    env.pop("DAGSTER_HOME", None)
    if args.max_epochs:
        env["DRUM_MAX_EPOCHS"] = str(args.max_epochs)
    ways = {"own names": own_names(held),
            "anonymised": {path: f"{args.source}/s{n:05d}{Path(path).suffix}" for n, path in enumerate(held["path"])}}
    results = {}
    for way, names in ways.items():
        archive = fold / f"archive_{way.replace(' ', '_')}"
        place(work / "corpus", names, archive)
        with open(fold / f"run_{way.replace(' ', '_')}.log", "w") as log:
            done = subprocess.run(
                ["drum-pipeline", "run", "--library", str(fold / "library"), "--archive", str(archive),
                 "--output", str(output)], env=env, stdout=log, stderr=log, check=False)
        index = read_index(output) if done.returncode == 0 else None
        if index is None:
            print(f"error: drum-pipeline run failed: see {fold}", file=sys.stderr)
            return 1
        results[way] = shares(index, names, truth)
    print(f"| {args.source}, demo library | drums | in the right class folder | in unsorted | non-drums rejected |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for way, r in results.items():
        print(f"| {way} | {r['drums']} | {r['right']:.1%} | {r['unsorted']:.1%} | {r['rejected']:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
