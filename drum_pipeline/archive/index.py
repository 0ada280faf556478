"""The archive index: every file of one pack with its content hash, duplicates, the models'
predictions, the fine label, the folder's own claim, the maker, and errors.

A pack is a top-level folder of the archive; files at the archive root form the pack
ROOT_PACK. Within a pack, a file whose bytes equal an earlier file's (by path) is a duplicate
pointing at it; copies across packs are found when the archive is rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from drum_pipeline.archive.corrections import UNSORTED, apply_corrections
from drum_pipeline.audio.feature_cache import FeatureCache, extract_missing, feature_matrix
from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.audio.folders import AudioFile, fingerprint, scan_audio_files
from drum_pipeline.audio.hashing import HashCache
from drum_pipeline.labels.names import name_claim, nearest_folder
from drum_pipeline.labels.taxonomy import Taxonomy
from drum_pipeline.models.bundle import TREE_MODELS, export_bundle, load_bundle
from drum_pipeline.models.inference import ModelSet, Reference, distances, load_model_set, prediction_columns
from drum_pipeline.models.rejection import SortingRules, sorted_label
from drum_pipeline.models.store import DEPLOYED, ModelMismatchError, model_dir
from drum_pipeline.progress import StageTimes

ROOT_PACK = "(archive root)"
INDEX_COLUMNS = [
    "path", "pack", "sha256", "status", "label", "fine_label", "confidence", "predicted_label", "predicted_fine_label",
    "reason",
    "model1_label", "model1_confidence", "model2_label", "model2_confidence", "drum_score", "novelty",
    "duplicate_of", "folder_label", "folder_agrees", "maker", "duration", "size", "error", "peak",
    "name_label", "name_fine_label", "name_rule", "label_source", "single_hit",
]
DETECTOR = "drum_detector"


def pack_of(relpath: str) -> str:
    parts = PurePosixPath(relpath).parts
    return parts[0] if len(parts) > 1 else ROOT_PACK


def list_packs(archive_root: Path) -> list[str]:
    """The packs of an archive: its top-level folders that hold audio, and ROOT_PACK for loose files."""
    return sorted({pack_of(f.relpath) for f in scan_audio_files(archive_root)})


def pack_fingerprints(archive_root: Path) -> dict[str, str]:
    """Each pack's fingerprint (relative path, size, mtime of its audio files): stat only, no audio read."""
    by_pack: dict[str, list[AudioFile]] = {}
    for f in scan_audio_files(archive_root):
        by_pack.setdefault(pack_of(f.relpath), []).append(f)
    return {pack: fingerprint(files) for pack, files in sorted(by_pack.items())}


def pack_files(archive_root: Path, pack: str) -> list[AudioFile]:
    """The audio files of one pack, with paths relative to the archive root; hidden ones are
    included, marked `skipped`, so that the index accounts for every file."""
    archive_root = Path(archive_root)
    if pack == ROOT_PACK:
        return scan_audio_files(archive_root, recursive=False, include_hidden=True)
    return [replace(f, relpath=f"{pack}/{f.relpath}")
            for f in scan_audio_files(archive_root / pack, archive_root, include_hidden=True)]


@dataclass
class Classifier:
    """What classifying needs: the taxonomy, the feature parameters, the deployed models, the drum
    detector (None before one is deployed) and the known sounds (loaded once; the models are
    cached per process)."""

    taxonomy: Taxonomy
    params: FeatureParams
    models: ModelSet
    reference: Reference
    detector: object = None


def load_classifier(bundle_dir: Path, taxonomy: Taxonomy) -> Classifier:
    """The inference bundle in `bundle_dir`: the deployed models, the known sounds and the drum
    detector, without TensorFlow; ModelMismatchError when there is none or it does not fit."""
    from drum_pipeline.models.store import load_model

    params = FeatureParams()
    classes = list(taxonomy.classes)
    models, reference = load_bundle(bundle_dir, classes, params)
    detector = None
    if (Path(bundle_dir) / DETECTOR).is_dir():
        detector, _ = load_model(Path(bundle_dir) / DETECTOR, classes, params)
    return Classifier(taxonomy, params, models, reference, detector)


def export_inference_bundle(models_dir: Path, spectrograms: pd.DataFrame, sources: dict[str, str], taxonomy: Taxonomy,
                            thresholds: dict, target: Path) -> Path:
    """Export the deployed models of `models_dir`, the known sounds (the training split of the
    spectrogram_features table) and the sorting thresholds as the inference bundle in `target`.
    `sources`: the digests of what it is built from (bundle_sources). Needs TensorFlow."""
    if not (Path(models_dir) / DEPLOYED).exists():
        raise ModelMismatchError(f"no deployed models in {models_dir}: run `drum-pipeline run` first")
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        raise ModelMismatchError("exporting the inference bundle needs TensorFlow: pip install 'drum-pipeline[train]', "
                                 "or copy a bundle made by `drum-pipeline export` and pass --bundle") from None
    params = FeatureParams()
    models = load_model_set(models_dir, list(taxonomy.classes), params)
    reference = build_reference(models, spectrograms, params)
    trees = [model_dir(models_dir, name, DEPLOYED) for name in TREE_MODELS]
    return export_bundle(models, reference, params, target, sources, [folder for folder in trees if folder.is_dir()],
                         thresholds)


def build_reference(models: ModelSet, spectrograms: pd.DataFrame, params) -> Reference:
    """The known sounds: the curated training files' embeddings with their labels."""
    known = spectrograms[(spectrograms["error"] == "") & (spectrograms["split"] == "train")]
    embeddings = models.embed(feature_matrix(known, "logmel", params))
    return Reference.build(embeddings, known["label"].to_numpy(), known["fine_label"].to_numpy())


def index_pack(archive_dir: Path, pack: str, classifier: Classifier, rules: SortingRules, corrections: pd.DataFrame,
               hashes: HashCache, cache: FeatureCache, progress: Callable[[int, int], None] | None = None,
               times: StageTimes | None = None) -> tuple[pd.DataFrame, dict]:
    """The index rows of one pack of the archive in `archive_dir`, with the user's `corrections`
    applied (label_source `correction`), and counters of the work done."""
    times = times or StageTimes()
    with times("discovery"):
        files = pack_files(archive_dir, pack)
    table, work = classify_pack(files, pack, hashes, cache, classifier, rules, progress=progress, times=times)
    with times("index"):
        table = apply_corrections(table, corrections)
    return table, work


def classify_pack(
    files: list[AudioFile],
    pack: str,
    hashes: HashCache,
    cache: FeatureCache,
    classifier: Classifier,
    rules: SortingRules = SortingRules(),
    chunk_size: int = 2048,
    progress: Callable[[int, int], None] | None = None,
    times: StageTimes | None = None,
) -> tuple[pd.DataFrame, dict]:
    """The index rows of one pack (columns INDEX_COLUMNS, sorted by path) and counters of the work done;
    `times` adds up the seconds of each stage."""
    taxonomy = classifier.taxonomy
    times = times or StageTimes()
    rows: dict[str, dict] = {}
    first_of_hash: dict[str, str] = {}
    hashed_before = hashes.misses  # one hash cache may serve many packs
    readable = [f for f in files if not f.problem and not f.skipped]  # a link leading out of the archive is never read
    with times("hashing"):
        digests = dict(zip((f.relpath for f in readable), hashes.sha256_many([f.path for f in readable]), strict=True))
    with times("index"):  # the rows: folder claim, maker, duplicates
        for f in sorted(files, key=lambda f: f.relpath):
            row = {column: None for column in INDEX_COLUMNS}
            folder, claim = nearest_folder(taxonomy, f.relpath)
            row.update(path=f.relpath, pack=pack, size=f.size, error="", reason="", duplicate_of="",
                       folder_label=claim.label if claim.status == "labelled" else "", maker=taxonomy.maker(f.relpath),
                       label_source="", **name_claim(taxonomy, f.relpath))
            if f.skipped:
                row.update(sha256="", status="skipped", label=UNSORTED, reason=f.skipped)
                rows[f.relpath] = row
                continue
            row["sha256"] = digests.get(f.relpath, OSError(f.problem))
            if isinstance(row["sha256"], OSError):
                exc = row["sha256"]
                row.update(sha256="", status="error", label=UNSORTED, error=f"cannot read: {exc.strerror or exc}")
            if row["sha256"]:
                if row["sha256"] in first_of_hash:
                    row.update(status="duplicate", duplicate_of=first_of_hash[row["sha256"]])
                else:
                    first_of_hash[row["sha256"]] = f.relpath
            rows[f.relpath] = row

    originals = list(first_of_hash.items())
    by_path = {f.relpath: f.path for f in files}
    report = extract_missing(((sha, by_path[path]) for sha, path in originals), cache, progress=progress, times=times)
    embedding = {"embedded": 0, "seconds": 0.0}
    if classifier.models.embedding_model is not None:  # the accurate mode: the pretrained embedding too
        from drum_pipeline.audio.embeddings import embed_missing

        with times("embedding (--accurate)"):
            embedding = embed_missing(((sha, by_path[path]) for sha, path in originals), cache)
    for start in range(0, len(originals), chunk_size):
        _classify_chunk(originals[start : start + chunk_size], rows, by_path, cache, classifier, rules, times)

    with times("index"):
        table = _index_table(rows)
    return table, {
        "files": len(files), "hashed": hashes.misses - hashed_before, "extracted": report.extracted, "cached": report.cached,
        "decode_failed": report.failed, "embedded": embedding["embedded"],
        "embedding_seconds": round(embedding["seconds"], 2)}


def _index_table(rows: dict[str, dict]) -> pd.DataFrame:
    """The rows as a table: duplicates copy their original's results, and folder_agrees is set."""
    for row in rows.values():
        if row["status"] == "duplicate":
            original = rows[row["duplicate_of"]]
            for key in INDEX_COLUMNS:
                if key not in ("path", "status", "duplicate_of", "folder_label", "maker", "size", "folder_agrees",
                               "name_label", "name_fine_label", "name_rule"):
                    row[key] = original[key]
        row["folder_agrees"] = bool(row["folder_label"]) and row["folder_label"] == row["predicted_label"]
    table = pd.DataFrame(list(rows.values()), columns=INDEX_COLUMNS)
    return table.astype({"confidence": float, "model1_confidence": float, "model2_confidence": float,
                         "drum_score": float, "novelty": float, "duration": float, "peak": float,
                         "single_hit": "boolean"})  # typed even when a pack has no value, so the packs read as one table


def _classify_chunk(originals, rows, paths: dict[str, Path], cache, classifier: Classifier, rules: SortingRules,
                    times: StageTimes) -> None:
    from drum_pipeline.audio.features import rings_as_one_hit
    from drum_pipeline.models.descriptors import descriptors
    from drum_pipeline.models.rejection import drum_scores

    models, reference = classifier.models, classifier.reference
    with times("features"):  # read back from the feature cache
        records = {r.sha256: r for r in cache.get(sha for sha, _ in originals)}
        vectors = cache.embeddings(sha for sha, _ in originals) if models.embedding_model is not None else None
    decoded = []
    for sha, path in originals:
        record = records.get(sha)
        row = rows[path]
        if record is None or record.error:
            row.update(status="error", label=UNSORTED, error=record.error if record else "not extracted")
            continue
        if vectors is not None and sha not in vectors:
            row.update(status="error", label=UNSORTED, error="could not be embedded (the accurate mode)")
            continue
        row["duration"] = record.stats.get("duration")
        row["peak"] = record.stats.get("peak")
        decoded.append((path, record))
    if not decoded:
        return
    with times("inference"):
        mfcc = np.stack([r.mfcc for _, r in decoded])
        logmel = np.stack([r.logmel for _, r in decoded])
        duration = np.array([rows[path]["duration"] for path, _ in decoded], np.float32)
        described = descriptors(logmel, duration, classifier.params)  # once, for the trees of both
        embedding = None if vectors is None else np.stack([vectors[r.sha256] for _, r in decoded])
        predictions = prediction_columns(models.predict(mfcc, logmel, rows=described, embedding=embedding),
                                         models.classes)
        fine, novelty = reference.fine_labels_and_novelty(models.embed(logmel), list(predictions["predicted_label"]))
        scores = np.full(len(decoded), np.nan)
        if classifier.detector is not None:
            scores = drum_scores(classifier.detector, logmel, duration, classifier.params, described)
    for i, (path, _) in enumerate(decoded):
        row = rows[path]
        row.update({name: values[i].item() for name, values in predictions.items()})
        row.update(status="ok", predicted_fine_label=fine[i], novelty=float(novelty[i]), drum_score=float(scores[i]))
        if (row["duration"] or 0) > rules.max_one_shot_seconds:  # read on: a ringing hit, or a loop?
            row["single_hit"] = rings_as_one_hit(paths[path])
        row["label"], row["fine_label"], row["reason"], row["label_source"] = sorted_label(row, rules)


def similar_sounds(classifier: Classifier, cache: FeatureCache, index: pd.DataFrame, logmel: np.ndarray,
                   n: int = 10) -> pd.DataFrame:
    """The `n` archive files nearest to a spectrogram in Model 2's embedding, with distances
    (standardised embedding units; the typical distance between known sounds is about 1 in
    `novelty` terms)."""
    ok = index[index["status"] == "ok"]
    records = {r.sha256: r for r in cache.get(ok["sha256"])}
    ok = ok[ok["sha256"].map(lambda sha: sha in records and not records[sha].error)]
    if ok.empty:
        return pd.DataFrame(columns=["path", "label", "distance"])
    archive = classifier.models.embed(np.stack([records[sha].logmel for sha in ok["sha256"]]))
    query = classifier.models.embed(logmel[None])
    reference = classifier.reference
    distance = distances(reference.standardise(query), reference.standardise(archive))[0]
    nearest = np.argsort(distance)[:n]
    return pd.DataFrame({"path": ok["path"].to_numpy()[nearest], "label": ok["label"].to_numpy()[nearest],
                         "distance": (distance[nearest] / reference.typical_distance).round(3)})
