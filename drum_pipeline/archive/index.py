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

from drum_pipeline.audio.feature_cache import FeatureCache, extract_missing, feature_matrix
from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.audio.folders import AudioFile, fingerprint, scan_audio_files
from drum_pipeline.audio.hashing import HashCache
from drum_pipeline.labels.names import nearest_folder
from drum_pipeline.labels.taxonomy import Taxonomy, load_taxonomy
from drum_pipeline.models.inference import ModelSet, Reference, distances, load_model_set

ROOT_PACK = "(archive root)"
UNSORTED = "unsorted"
INDEX_COLUMNS = [
    "path", "pack", "sha256", "status", "label", "fine_label", "confidence", "predicted_label", "reason",
    "model1_label", "model1_confidence", "model2_label", "model2_confidence", "novelty", "duplicate_of",
    "folder_label", "folder_agrees", "maker", "duration", "size", "error",
]


@dataclass(frozen=True)
class SortingRules:
    confidence_threshold: float = 0.5  # under it, a file is unsorted
    max_one_shot_seconds: float = 6.0  # longer files are loops or phrases: unsorted
    max_novelty: float = 2.0  # farther from every known sound than this many typical distances: unsorted


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
    """The audio files of one pack, with paths relative to the archive root."""
    archive_root = Path(archive_root)
    if pack == ROOT_PACK:
        return scan_audio_files(archive_root, recursive=False)
    return [replace(f, relpath=f"{pack}/{f.relpath}") for f in scan_audio_files(archive_root / pack, archive_root)]


@dataclass
class Classifier:
    """What classifying needs: the taxonomy, the feature parameters, the deployed models and the
    known sounds (loaded once; the models are cached per process)."""

    taxonomy: Taxonomy
    params: FeatureParams
    models: ModelSet
    reference: Reference


def load_classifier(settings) -> Classifier:
    """The deployed models of `settings`' output folder; ModelMismatchError when there are none."""
    taxonomy = load_taxonomy(settings.taxonomy_path)
    params = FeatureParams()
    models = load_model_set(settings.layout.models_dir, list(taxonomy.classes), params)
    reference = build_reference(models, settings.layout.read_table("spectrogram_features"), params)
    return Classifier(taxonomy, params, models, reference)


def build_reference(models: ModelSet, spectrograms: pd.DataFrame, params) -> Reference:
    """The known sounds: the curated training files' embeddings with their labels."""
    known = spectrograms[(spectrograms["error"] == "") & (spectrograms["split"] == "train")]
    embeddings = models.embed(feature_matrix(known, "logmel", params))
    return Reference.build(embeddings, known["label"].to_numpy(), known["fine_label"].to_numpy())


def index_pack(settings, pack: str, classifier: Classifier, hashes: HashCache, cache: FeatureCache,
               progress: Callable[[int, int], None] | None = None) -> tuple[pd.DataFrame, dict]:
    """Classify one pack of `settings`' archive and write its index partition (Parquet and JSON lines)."""
    table, work = classify_pack(pack_files(settings.archive_dir, pack), pack, hashes, cache, classifier,
                                settings.sorting_rules(), progress=progress)
    settings.layout.write_partition("archive_index", pack, table)
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
) -> tuple[pd.DataFrame, dict]:
    """The index rows of one pack (columns INDEX_COLUMNS, sorted by path) and counters of the work done."""
    taxonomy, models, reference = classifier.taxonomy, classifier.models, classifier.reference
    rows: dict[str, dict] = {}
    first_of_hash: dict[str, str] = {}
    hashed_before = hashes.misses  # one hash cache may serve many packs
    for f in sorted(files, key=lambda f: f.relpath):
        row = {column: None for column in INDEX_COLUMNS}
        folder, claim = nearest_folder(taxonomy, f.relpath)
        row.update(path=f.relpath, pack=pack, size=f.size, error="", reason="", duplicate_of="",
                   folder_label=claim.label if claim.status == "labelled" else "", maker=taxonomy.maker(f.relpath))
        try:
            if f.problem:
                raise OSError(f.problem)
            row["sha256"] = hashes.sha256(f.path)
        except OSError as exc:
            row.update(sha256="", status="error", label=UNSORTED, error=f"cannot read: {exc.strerror or exc}")
        if row["sha256"]:
            if row["sha256"] in first_of_hash:
                row.update(status="duplicate", duplicate_of=first_of_hash[row["sha256"]])
            else:
                first_of_hash[row["sha256"]] = f.relpath
        rows[f.relpath] = row
    hashes.flush()

    originals = list(first_of_hash.items())
    by_path = {f.relpath: f.path for f in files}
    report = extract_missing(((sha, by_path[path]) for sha, path in originals), cache, progress=progress)
    for start in range(0, len(originals), chunk_size):
        _classify_chunk(originals[start : start + chunk_size], rows, cache, models, reference, rules)

    for row in rows.values():
        if row["status"] == "duplicate":
            original = rows[row["duplicate_of"]]
            for key in INDEX_COLUMNS:
                if key not in ("path", "status", "duplicate_of", "folder_label", "maker", "size", "folder_agrees"):
                    row[key] = original[key]
        row["folder_agrees"] = bool(row["folder_label"]) and row["folder_label"] == row["predicted_label"]
    table = pd.DataFrame(list(rows.values()), columns=INDEX_COLUMNS)
    return table.astype({"confidence": float, "model1_confidence": float, "model2_confidence": float,
                         "novelty": float, "duration": float}), {
        "files": len(files), "hashed": hashes.misses - hashed_before, "extracted": report.extracted, "cached": report.cached,
        "decode_failed": report.failed}


def _classify_chunk(originals, rows, cache, models, reference, rules) -> None:
    records = {r.sha256: r for r in cache.get(sha for sha, _ in originals)}
    decoded = []
    for sha, path in originals:
        record = records.get(sha)
        row = rows[path]
        if record is None or record.error:
            row.update(status="error", label=UNSORTED, error=record.error if record else "not extracted")
            continue
        row["duration"] = record.stats.get("duration")
        decoded.append((path, record))
    if not decoded:
        return
    mfcc = np.stack([r.mfcc for _, r in decoded])
    logmel = np.stack([r.logmel for _, r in decoded])
    probabilities = models.predict(mfcc, logmel)
    classes = np.array(models.classes)
    ensemble = probabilities["ensemble"]
    predicted = classes[ensemble.argmax(axis=1)]
    fine, novelty = reference.fine_labels_and_novelty(models.embed(logmel), list(predicted))
    for i, (path, _) in enumerate(decoded):
        row = rows[path]
        row.update(
            status="ok", predicted_label=str(predicted[i]), fine_label=fine[i],
            confidence=float(ensemble[i].max()), novelty=float(novelty[i]),
            model1_label=str(classes[probabilities["model1"][i].argmax()]),
            model1_confidence=float(probabilities["model1"][i].max()),
            model2_label=str(classes[probabilities["model2"][i].argmax()]),
            model2_confidence=float(probabilities["model2"][i].max()),
        )
        row["reason"] = unsorted_reason(row["confidence"], row["duration"], row["novelty"], rules)
        row["label"] = UNSORTED if row["reason"] else row["predicted_label"]


def unsorted_reason(confidence: float, duration: float, novelty: float, rules: SortingRules) -> str:
    """Why a classified file goes to unsorted ('' when it does not)."""
    if duration is not None and duration > rules.max_one_shot_seconds:
        return f"too long for a one-shot ({duration:.1f} s)"
    if novelty is not None and novelty > rules.max_novelty:
        return f"unlike any known drum sound (novelty {novelty:.1f})"
    if confidence < rules.confidence_threshold:
        return f"confidence {confidence:.2f} under {rules.confidence_threshold:g}"
    return ""


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
