"""The archive index: every file of one pack with its content hash, duplicates, the models'
predictions, the fine label, the folder's own claim, the maker, and errors.

A pack is a top-level folder of the archive; files at the archive root form the pack
ROOT_PACK. Within a pack, a file whose bytes equal an earlier file's (by path) is a duplicate
pointing at it; copies across packs are found when the archive is rebuilt.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from drum_pipeline.archive.corrections import apply_corrections, read_corrections
from drum_pipeline.audio.feature_cache import FeatureCache, extract_missing, feature_matrix
from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.audio.folders import AudioFile, fingerprint, scan_audio_files
from drum_pipeline.audio.hashing import HashCache
from drum_pipeline.labels.names import nearest_folder
from drum_pipeline.labels.taxonomy import Taxonomy, load_taxonomy
from drum_pipeline.models.bundle import (
    REFERENCE_TABLE,
    TREE_MODELS,
    bundle_sources,
    export_bundle,
    is_current,
    load_bundle,
)
from drum_pipeline.models.inference import ModelSet, Reference, distances, load_model_set
from drum_pipeline.models.store import DEPLOYED, ModelMismatchError, model_dir
from drum_pipeline.progress import StageTimes

ROOT_PACK = "(archive root)"
UNSORTED = "unsorted"
INDEX_COLUMNS = [
    "path", "pack", "sha256", "status", "label", "fine_label", "confidence", "predicted_label", "reason",
    "model1_label", "model1_confidence", "model2_label", "model2_confidence", "drum_score", "novelty",
    "duplicate_of", "folder_label", "folder_agrees", "maker", "duration", "size", "error", "peak",
]
DETECTOR = "drum_detector"


@dataclass(frozen=True)
class SortingRules:
    """When a classified file goes to unsorted. The evaluation picks `drum_threshold` and
    `confidence_threshold` on the library's held-out drums (see calibrate_sorting_rules)."""

    confidence_threshold: float = 0.0  # the ensemble's confidence under it: unsorted
    drum_threshold: float = 0.0  # the drum detector's score under it: not a drum one-shot
    disagree_confidence: float = 0.6  # both models at least this sure of different classes: unsorted
    max_one_shot_seconds: float = 6.0  # longer files are loops or phrases: unsorted
    min_seconds: float = 0.01  # shorter decodable files are not a sound: unsorted, "too short"
    min_peak: float = 0.001  # a peak under -60 dBFS is no signal above the noise floor: unsorted, "silent"


def unsorted_reason(rules: SortingRules, duration: float | None, drum_score: float | None, confidence: float,
                    model1: tuple[str, float], model2: tuple[str, float]) -> str:
    """Why a classified file goes to unsorted ('' when it does not); the models are (label, confidence)."""
    if duration is not None and duration > rules.max_one_shot_seconds:
        return f"too long for a one-shot ({duration:.1f} s)"
    if drum_score is not None and drum_score == drum_score and drum_score < rules.drum_threshold:
        return f"not like a drum one-shot (drum score {_under(drum_score, rules.drum_threshold)})"
    (label1, confidence1), (label2, confidence2) = model1, model2
    if label1 != label2 and min(confidence1, confidence2) >= rules.disagree_confidence:
        return f"models disagree: {label1} {confidence1:.2f} vs {label2} {confidence2:.2f}"
    if confidence < rules.confidence_threshold:
        return f"low confidence ({_under(confidence, rules.confidence_threshold)})"
    return ""


def _under(value: float, threshold: float) -> str:
    """'0.42 under 0.45', with enough digits that the two never print equal."""
    digits = 2
    while f"{value:.{digits}f}" == f"{threshold:.{digits}f}" and digits < 6:
        digits += 1
    return f"{value:.{digits}f} under {threshold:.{digits}f}"


def sorted_mask(rules: SortingRules, duration: np.ndarray | None, drum_scores: np.ndarray,
                probabilities: dict[str, np.ndarray]) -> np.ndarray:
    """Which of N classified sounds stay sorted under `rules` (unsorted_reason gives ''), from their
    durations (None: not known), drum scores and the probabilities of model1, model2 and the ensemble."""
    p1, p2, ensemble = probabilities["model1"], probabilities["model2"], probabilities["ensemble"]
    return np.array([unsorted_reason(rules, None if duration is None else float(duration[i]), float(drum_scores[i]),
                                     float(ensemble[i].max()), (int(p1[i].argmax()), float(p1[i].max())),
                                     (int(p2[i].argmax()), float(p2[i].max()))) == ""
                     for i in range(len(ensemble))], dtype=bool)


def calibrate_sorting_rules(drum_scores: np.ndarray, probabilities: dict[str, np.ndarray], keep_share: float = 0.95,
                            base: SortingRules = SortingRules()) -> SortingRules:
    """Thresholds picked on held-out drums (one-shots by construction) so that `keep_share` of them
    is sorted: half of what may go is left to the drum detector, the rest to the models' doubt
    (disagreement first, then the confidence threshold)."""
    from drum_pipeline.models.rejection import threshold_keeping

    drum_threshold = threshold_keeping(drum_scores, 1 - (1 - keep_share) / 2)
    remaining = sorted_mask(replace(base, drum_threshold=drum_threshold, confidence_threshold=0.0), None,
                            drum_scores, probabilities)
    wanted = keep_share * len(remaining)
    share = wanted / remaining.sum() if remaining.sum() else 1.0
    confidence = probabilities["ensemble"].max(axis=1)[remaining]
    return replace(base, drum_threshold=round(drum_threshold, 6),
                   confidence_threshold=round(threshold_keeping(confidence, min(1.0, share)), 6))


def sorting_rules_from(detector_dir: Path, confidence_threshold: float | None = None) -> SortingRules:
    """The calibration kept with the drum detector in `detector_dir` (the defaults without one); an
    explicit `confidence_threshold` (DRUM_CONFIDENCE_THRESHOLD) overrides the calibrated one."""
    mapping = Path(detector_dir) / "labels.json"
    calibrated = json.loads(mapping.read_text()).get("sorting", {}) if mapping.exists() else {}
    rules = SortingRules(**{key: value for key, value in calibrated.items() if key in SortingRules.__dataclass_fields__})
    return rules if confidence_threshold is None else replace(rules, confidence_threshold=confidence_threshold)


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


def load_classifier(settings, bundle_dir: Path | None = None, log: Callable[[str], None] | None = None) -> Classifier:
    """The inference bundle of `settings`' output folder (or `bundle_dir`): the deployed models and
    the known sounds, without TensorFlow, and the deployed drum detector. A missing or outdated
    bundle of the output folder is exported first (that needs TensorFlow); ModelMismatchError when
    there are no models."""
    from drum_pipeline.models.store import load_model

    taxonomy = load_taxonomy(settings.taxonomy_path)
    params = FeatureParams()
    if bundle_dir is None:
        bundle_dir = settings.layout.bundle_dir
        if not is_current(bundle_dir, settings.layout.models_dir, settings.layout.table_path(REFERENCE_TABLE)):
            if log:
                log(f"exporting the deployed models to {bundle_dir} (the bundle is missing or older than them)")
            export_inference_bundle(settings)
    models, reference = load_bundle(bundle_dir, list(taxonomy.classes), params)
    try:
        detector, _ = load_model(detector_dir(settings, bundle_dir), list(taxonomy.classes), params)
    except ModelMismatchError:
        detector = None
    return Classifier(taxonomy, params, models, reference, detector)


def detector_dir(settings, bundle_dir: Path | None = None) -> Path:
    """The drum detector and its calibration: in the bundle when it holds one, else the deployed one."""
    if bundle_dir is not None and (Path(bundle_dir) / DETECTOR).is_dir():
        return Path(bundle_dir) / DETECTOR
    return model_dir(settings.layout.models_dir, DETECTOR, DEPLOYED)


def export_inference_bundle(settings, target: Path | None = None) -> Path:
    """Export the deployed models and the known sounds of `settings`' output folder as the
    inference bundle (default: its layout's bundle_dir). Needs TensorFlow."""
    layout = settings.layout
    if not (layout.models_dir / "deployed").exists():
        raise ModelMismatchError(f"no deployed models in {layout.models_dir}: run `drum-pipeline run` first")
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        raise ModelMismatchError("exporting the inference bundle needs TensorFlow: pip install 'drum-pipeline[train]', "
                                 "or copy a bundle made by `drum-pipeline export` and pass --bundle") from None
    sources = bundle_sources(layout.models_dir, layout.table_path(REFERENCE_TABLE))
    params = FeatureParams()
    models = load_model_set(layout.models_dir, list(load_taxonomy(settings.taxonomy_path).classes), params)
    reference = build_reference(models, layout.read_table(REFERENCE_TABLE), params)
    trees = [model_dir(layout.models_dir, name, DEPLOYED) for name in TREE_MODELS]
    return export_bundle(models, reference, params, target or layout.bundle_dir, sources,
                         [folder for folder in trees if folder.is_dir()])


def build_reference(models: ModelSet, spectrograms: pd.DataFrame, params) -> Reference:
    """The known sounds: the curated training files' embeddings with their labels."""
    known = spectrograms[(spectrograms["error"] == "") & (spectrograms["split"] == "train")]
    embeddings = models.embed(feature_matrix(known, "logmel", params))
    return Reference.build(embeddings, known["label"].to_numpy(), known["fine_label"].to_numpy())


def index_pack(settings, pack: str, classifier: Classifier, hashes: HashCache, cache: FeatureCache,
               progress: Callable[[int, int], None] | None = None,
               times: StageTimes | None = None) -> tuple[pd.DataFrame, dict]:
    """Classify one pack of `settings`' archive, apply the user's corrections (label_source
    `correction`), and write its index partition (Parquet and JSON lines)."""
    times = times or StageTimes()
    with times("discovery"):
        files = pack_files(settings.archive_dir, pack)
    table, work = classify_pack(files, pack, hashes, cache, classifier, settings.sorting_rules(), progress=progress,
                                times=times)
    with times("index"):
        table = apply_corrections(table, read_corrections(settings.layout.corrections_path))
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
                       folder_label=claim.label if claim.status == "labelled" else "", maker=taxonomy.maker(f.relpath))
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
    for start in range(0, len(originals), chunk_size):
        _classify_chunk(originals[start : start + chunk_size], rows, cache, classifier, rules, times)

    with times("index"):
        table = _index_table(rows)
    return table, {
        "files": len(files), "hashed": hashes.misses - hashed_before, "extracted": report.extracted, "cached": report.cached,
        "decode_failed": report.failed}


def _index_table(rows: dict[str, dict]) -> pd.DataFrame:
    """The rows as a table: duplicates copy their original's results, and folder_agrees is set."""
    for row in rows.values():
        if row["status"] == "duplicate":
            original = rows[row["duplicate_of"]]
            for key in INDEX_COLUMNS:
                if key not in ("path", "status", "duplicate_of", "folder_label", "maker", "size", "folder_agrees"):
                    row[key] = original[key]
        row["folder_agrees"] = bool(row["folder_label"]) and row["folder_label"] == row["predicted_label"]
    table = pd.DataFrame(list(rows.values()), columns=INDEX_COLUMNS)
    return table.astype({"confidence": float, "model1_confidence": float, "model2_confidence": float,
                         "drum_score": float, "novelty": float, "duration": float, "peak": float})


def _classify_chunk(originals, rows, cache, classifier: Classifier, rules: SortingRules, times: StageTimes) -> None:
    from drum_pipeline.models.descriptors import descriptors
    from drum_pipeline.models.rejection import drum_scores

    models, reference = classifier.models, classifier.reference
    with times("features"):  # read back from the feature cache
        records = {r.sha256: r for r in cache.get(sha for sha, _ in originals)}
    decoded = []
    for sha, path in originals:
        record = records.get(sha)
        row = rows[path]
        if record is None or record.error:
            row.update(status="error", label=UNSORTED, error=record.error if record else "not extracted")
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
        probabilities = models.predict(mfcc, logmel, rows=described)
        classes = np.array(models.classes)
        ensemble = probabilities["ensemble"]
        predicted = classes[ensemble.argmax(axis=1)]
        fine, novelty = reference.fine_labels_and_novelty(models.embed(logmel), list(predicted))
        scores = np.full(len(decoded), np.nan)
        if classifier.detector is not None:
            scores = drum_scores(classifier.detector, logmel, duration, classifier.params, described)
    for i, (path, _) in enumerate(decoded):
        row = rows[path]
        row.update(
            status="ok", predicted_label=str(predicted[i]), fine_label=fine[i],
            confidence=float(ensemble[i].max()), novelty=float(novelty[i]), drum_score=float(scores[i]),
            model1_label=str(classes[probabilities["model1"][i].argmax()]),
            model1_confidence=float(probabilities["model1"][i].max()),
            model2_label=str(classes[probabilities["model2"][i].argmax()]),
            model2_confidence=float(probabilities["model2"][i].max()),
        )
        row["reason"] = reason_of(row, rules)
        row["label"] = UNSORTED if row["reason"] else row["predicted_label"]


def reason_of(row, rules: SortingRules) -> str:
    """Why an index row (a dict, or a named tuple of the index's columns) is unsorted: no usable
    sound (signal_problem), then unsorted_reason."""
    get = row.get if isinstance(row, dict) else lambda key, default=None: getattr(row, key, default)
    return signal_problem(get("duration"), get("peak"), rules) or unsorted_reason(
        rules, get("duration"), get("drum_score"), get("confidence"),
        (get("model1_label"), get("model1_confidence")), (get("model2_label"), get("model2_confidence")))


def signal_problem(duration: float | None, peak: float | None, rules: SortingRules) -> str:
    """'too short' or 'silent' when a decoded file holds no usable sound."""
    if duration is not None and duration < rules.min_seconds:
        return "too short"
    if peak is not None and peak == peak and peak < rules.min_peak:
        return "silent"
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
