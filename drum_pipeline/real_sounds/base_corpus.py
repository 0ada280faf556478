"""The base corpus: every real drum one-shot and non-drum sound of the real-sound corpus, as the
features the models learn from, shipped with the package so that every training hears real drums.

    python -m drum_pipeline.real_sounds.base_corpus build [--work-dir data/real_sounds]

rebuilds the corpus of `bench/real_sounds_truth.csv` (Debian packages, see corpus.py) and writes
`drum_pipeline/real_sounds/base_corpus.parquet`: one row per sound (source, corpus path, sha256,
kind, class, fine label, split, duration, and the log-mel window as float16: every feature the
models use derives from it), with the feature parameters' digest and each source's licence in
the file's metadata. No audio is shipped. The feature code changed (another digest): build again.

    python -m drum_pipeline.real_sounds.base_corpus embed [--work-dir data/real_sounds]

writes `base_corpus_embeddings.parquet` beside it: each sound's pretrained embedding (sha256, the
embedding as float16; the accurate mode's, audio/embeddings.py), for the accurate mode's trainings.

Each sound keeps its split: about a quarter of each source's sounds (by content hash) are `val`,
held out of training to calibrate the sorting thresholds on real sounds; the rest are `train`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from drum_pipeline.audio.feature_cache import FeatureCache, extract_missing, feature_table
from drum_pipeline.audio.features import FeatureParams

BASE_CORPUS_PATH = Path(__file__).with_name("base_corpus.parquet")
EMBEDDINGS_PATH = Path(__file__).with_name("base_corpus_embeddings.parquet")
VAL_EVERY = 4  # one sound in four of each source is held out for calibration
_COLUMNS = ["source", "path", "sha256", "kind", "label", "fine_label", "split", "duration"]


class BaseCorpusError(RuntimeError):
    """A base corpus that cannot be used; the message says why in one line."""


def corpus_split(sha256: pd.Series) -> np.ndarray:
    """`val` for about one in VAL_EVERY sounds (by content hash, the same on every machine), else `train`."""
    return np.where(sha256.map(lambda sha: int(sha[:8], 16) % VAL_EVERY == 0), "val", "train")


def build_table(corpus_dir: Path, truth: pd.DataFrame, params: FeatureParams, cache_dir: Path) -> pd.DataFrame:
    """The features of every corpus file the truth lists (files that do not decode are left out)."""
    files = truth.drop_duplicates("sha256").reset_index(drop=True)
    with FeatureCache(cache_dir, params) as cache:
        extract_missing(((row.sha256, Path(corpus_dir) / row.path) for row in files.itertuples()), cache)
        table = feature_table(files, cache, "logmel")
    table = table[table["error"] == ""].reset_index(drop=True)
    table["split"] = corpus_split(table["sha256"])
    table["logmel"] = [np.asarray(m, np.float16).tobytes() for m in table["logmel"]]
    return table[_COLUMNS + ["logmel"]]


def write_table(table: pd.DataFrame, params: FeatureParams, licences: dict[str, str], path: Path) -> None:
    """The table as Parquet (zstd), with the feature digest and the sources' licences in its metadata."""
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    metadata = {b"feature_digest": params.digest().encode(), b"licences": json.dumps(licences).encode()}
    pq.write_table(arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), **metadata}), path,
                   compression="zstd", compression_level=19)


def read_licences(path: Path = BASE_CORPUS_PATH) -> dict[str, str]:
    """Each source's licence, as the shipped file records it."""
    return json.loads(pq.read_schema(path).metadata.get(b"licences", b"{}"))


def load_base_corpus(params: FeatureParams, exclude: tuple[str, ...] = (), path: Path = BASE_CORPUS_PATH
                     ) -> pd.DataFrame:
    """The base corpus in the spectrogram_features table's columns (logmel as flattened float32,
    `error` empty, `group` its source), without the sources of `exclude`."""
    if not Path(path).exists():
        raise BaseCorpusError(f"no base corpus at {path}: build it with python -m drum_pipeline.real_sounds.base_corpus "
                              "build, or set DRUM_BASE_CORPUS=0")
    digest = pq.read_schema(path).metadata.get(b"feature_digest", b"").decode()
    if digest != params.digest():
        raise BaseCorpusError(f"the base corpus at {path} holds features of other parameters ({digest}, not "
                              f"{params.digest()}): build it again, or set DRUM_BASE_CORPUS=0")
    table = pd.read_parquet(path)
    unknown = sorted(set(exclude) - set(table["source"]))
    if unknown:
        raise BaseCorpusError(f"DRUM_BASE_CORPUS_EXCLUDE names no source of the base corpus: {', '.join(unknown)} "
                              f"(the sources are {', '.join(sorted(set(table['source'])))})")
    table = table[~table["source"].isin(exclude)].reset_index(drop=True)
    table["logmel"] = [np.frombuffer(blob, np.float16).astype(np.float32) for blob in table["logmel"]]
    return table.assign(path="base corpus/" + table["path"], group=table["source"], error="")


def write_embeddings(corpus_dir: Path, truth: pd.DataFrame, cache_dir: Path, path: Path = EMBEDDINGS_PATH) -> int:
    """Embed every corpus file the truth lists (cached in `cache_dir`) and write them to `path`."""
    from drum_pipeline.audio.embeddings import EMBEDDING_NAME, embed_missing
    from drum_pipeline.progress import ProgressLog

    files = truth.drop_duplicates("sha256")
    with FeatureCache(cache_dir, FeatureParams()) as cache:
        embed_missing(((row.sha256, Path(corpus_dir) / row.path) for row in files.itertuples()), cache,
                      progress=ProgressLog(lambda line: print(line, file=sys.stderr), "embedding"))
        vectors = cache.embeddings(files["sha256"])
    table = pa.table({"sha256": list(vectors), "embedding": [np.asarray(v, np.float16).tobytes() for v in vectors.values()]})
    pq.write_table(table.replace_schema_metadata({b"embedding": EMBEDDING_NAME.encode()}), path,
                   compression="zstd", compression_level=19)
    return len(vectors)


def with_embeddings(table: pd.DataFrame, path: Path = EMBEDDINGS_PATH) -> pd.DataFrame:
    """The base corpus table (load_base_corpus) with each sound's shipped embedding (`embedding`,
    float32); BaseCorpusError when the file is missing, of another embedding, or lacks a sound."""
    from drum_pipeline.audio.embeddings import EMBEDDING_NAME

    hint = "build them with python -m drum_pipeline.real_sounds.base_corpus embed, or set DRUM_BASE_CORPUS=0"
    if not Path(path).exists():
        raise BaseCorpusError(f"no base-corpus embeddings at {path}: {hint}")
    name = pq.read_schema(path).metadata.get(b"embedding", b"").decode()
    if name != EMBEDDING_NAME:
        raise BaseCorpusError(f"the base-corpus embeddings at {path} are of {name or 'no known model'}, not "
                              f"{EMBEDDING_NAME}: {hint}")
    shipped = pd.read_parquet(path)
    vectors = dict(zip(shipped["sha256"], shipped["embedding"], strict=True))
    missing = int((~table["sha256"].isin(vectors)).sum())
    if missing:
        raise BaseCorpusError(f"{missing} base-corpus sounds have no embedding in {path}: {hint}")
    return table.assign(embedding=[np.frombuffer(vectors[sha], np.float16).astype(np.float32)
                                   for sha in table["sha256"]])


def main(argv: list[str] | None = None) -> int:
    from drum_pipeline.real_sounds import corpus

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["build", "embed"])
    parser.add_argument("--work-dir", type=Path, default=Path("data/real_sounds"),
                        help="where the packages and the corpus are kept (default: data/real_sounds)")
    parser.add_argument("--truth", type=Path, default=corpus.DEFAULT_TRUTH_PATH)
    parser.add_argument("--output", type=Path, default=BASE_CORPUS_PATH)
    args = parser.parse_args(argv)
    try:
        entries = corpus.read_truth(args.truth)
        for problem in corpus.build_corpus(args.work_dir / "corpus", entries, args.work_dir / "packages"):
            print(f"warning: {problem}", file=sys.stderr)
    except corpus.CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    truth, params = corpus.truth_table(entries), FeatureParams()
    if args.command == "embed":
        count = write_embeddings(args.work_dir / "corpus", truth, args.work_dir / "cache")
        print(f"wrote {EMBEDDINGS_PATH}: {count} embeddings, {EMBEDDINGS_PATH.stat().st_size / 1e6:.1f} MB")
        return 0
    with tempfile.TemporaryDirectory() as cache:
        table = build_table(args.work_dir / "corpus", truth, params, Path(cache))
    licences = {name: source.licence for name, source in corpus.SOURCES.items() if name in set(table["source"])}
    write_table(table, params, licences, args.output)
    counts = table.groupby(["source", "kind"]).size().unstack(fill_value=0)
    print(counts.to_string())
    print(f"wrote {args.output}: {len(table)} sounds, {args.output.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
