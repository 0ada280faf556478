"""The benchmark: on one set of files, in one run, the decode limit, the naive librosa peer, the
pipeline's feature extraction alone, the pipeline's archive path (cold), re-scans (nothing
changed; 1% added) and peak memory.

`drum-pipeline bench --files 20000` synthesizes an archive of varied one-shots (packs of 500);
`drum-pipeline bench --archive DIR` measures any folder. The models come from the output
folder (run the pipeline first); caches are fresh for the cold run.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from drum_pipeline.archive.corrections import read_corrections
from drum_pipeline.archive.index import (
    index_pack,
    list_packs,
    load_classifier,
    pack_fingerprints,
)
from drum_pipeline.audio.feature_cache import FeatureCache, extract_missing
from drum_pipeline.audio.features import FeatureParams
from drum_pipeline.audio.folders import scan_audio_files
from drum_pipeline.audio.hashing import HashCache
from drum_pipeline.config.settings import Settings
from drum_pipeline.demo import synth
from drum_pipeline.labels.taxonomy import load_taxonomy
from drum_pipeline.models.bundle import bundle_thresholds
from drum_pipeline.progress import StageTimes


def synthesize_archive(root: Path, files: int, seed: int = 1, pack_size: int = 500, start: int = 0) -> None:
    """`files` distinct one-shots (WAV 16/24-bit, FLAC; 44.1 and 48 kHz) in packs of `pack_size`:
    a few hundred rendered sounds, each written many times with its own gain, pitch and noise."""
    rng = np.random.default_rng(seed)
    names = list(synth.DRUM_VOICES) + list(synth.NON_DRUM_VOICES)
    bases = [synth.render(names[i % len(names)], rng, 44100)[: 3 * 44100] for i in range(min(files, 300))]
    formats = [("WAV", "PCM_16", ".wav"), ("WAV", "PCM_24", ".wav"), ("FLAC", "PCM_16", ".flac")]
    for i in range(start, start + files):
        base = bases[i % len(bases)]
        stretch = rng.uniform(0.9, 1.1)
        index = np.minimum((np.arange(int(len(base) / stretch)) * stretch).astype(int), len(base) - 1)
        audio = base[index] * rng.uniform(0.3, 1.0) + rng.normal(0, 1e-4, len(index)).astype(np.float32)
        fmt = formats[i % len(formats)]
        rate = 44100 if i % 4 else 48000
        path = root / f"Pack {i // pack_size:04d}" / f"hit {i:06d}{fmt[2]}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.clip(audio, -1, 1), rate, format=fmt[0], subtype=fmt[1])


def decode_limit(paths: list[Path], params: FeatureParams, workers: int) -> float:
    """Files per second of decoding only the analysed window, at the source rate, on `workers` threads."""

    def decode(path: Path) -> int:
        try:
            with sf.SoundFile(str(path)) as f:
                return len(f.read(math.ceil(params.decode_seconds * f.samplerate), dtype="float32"))
        except Exception:
            return 0

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(decode, paths))
    return len(paths) / (time.perf_counter() - start)


def naive_peer(paths: list[Path], params: FeatureParams) -> float:
    """Files per second of a plain librosa.load + librosa.feature.mfcc loop, one process."""
    import librosa

    librosa.feature.mfcc(y=np.zeros(2048, np.float32), sr=22050)  # numba compiles once, outside the timing
    start = time.perf_counter()
    for path in paths:
        try:
            y, sr = librosa.load(path, sr=params.sample_rate, duration=params.window_seconds)
            librosa.feature.mfcc(y=y, sr=sr, n_mfcc=params.n_mfcc)
        except Exception:
            pass
    return len(paths) / (time.perf_counter() - start)


def extraction_ceiling(paths: list[Path], params: FeatureParams, cache_dir: Path, workers: int) -> float:
    """Files per second of the pipeline's own feature extraction alone (decoding, resampling, features,
    the cache written; on `workers` threads), into an empty cache: what the pipeline would reach if
    hashing, the models and the index cost nothing."""
    shutil.rmtree(cache_dir, ignore_errors=True)
    with FeatureCache(cache_dir, params) as cache:
        start = time.perf_counter()
        extract_missing(((str(path), path) for path in paths), cache, workers)
        seconds = time.perf_counter() - start
    shutil.rmtree(cache_dir, ignore_errors=True)
    return len(paths) / seconds


def _bench_settings(archive: Path, output: Path, models_from: Settings) -> Settings:
    """Settings whose caches start empty but whose models and known sounds are the real ones."""
    settings = Settings.resolve(str(models_from.library_dir), str(archive), str(output))
    for part in ("models", "tables/spectrogram_features.parquet", "tables/sorting_thresholds.json"):
        source, target = models_from.output_dir / part, output / part
        if not source.exists():
            raise FileNotFoundError(f"{source} does not exist: run `drum-pipeline run` first (the benchmark "
                                    "classifies with the deployed models)")
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    return settings


def classify_archive(settings: Settings, packs: list[str] | None = None) -> dict:
    """The pipeline's archive path for `packs` (default: all): discovery, hashing, features,
    classification, the index written, with the models and known sounds loaded inside the time.
    Returns counters, seconds, and the seconds of each stage (`stages`; threads' time added up)."""
    start = time.perf_counter()
    times = StageTimes()
    with times("loading the models"):
        classifier = load_classifier(settings.layout.bundle_dir, load_taxonomy(settings.taxonomy_path))
        rules = settings.sorting_rules(bundle_thresholds(settings.layout.bundle_dir))
    with times("discovery"):
        packs = list_packs(settings.archive_dir) if packs is None else packs
    totals = {"files": 0, "hashed": 0, "extracted": 0}
    corrections = read_corrections(settings.layout.corrections_path)
    with HashCache(settings.layout.hash_cache_path) as hashes, \
            FeatureCache(settings.layout.cache_dir, classifier.params) as cache:
        for pack in packs:
            hashes.misses = 0
            table, work = index_pack(settings.archive_dir, pack, classifier, rules, corrections, hashes, cache,
                                     times=times)
            with times("index"):
                settings.layout.write_partition("archive_index", pack, table)
            for key in totals:
                totals[key] += work[key]
    return {**totals, "packs": len(packs), "seconds": time.perf_counter() - start, "stages": times.seconds}


def rescan(settings: Settings, known: dict[str, str]) -> dict:
    """What the sensor does: fingerprint the packs (stat only) and classify the changed ones."""
    start = time.perf_counter()
    current = pack_fingerprints(settings.archive_dir)
    changed = [pack for pack, version in current.items() if known.get(pack) != version]
    result = classify_archive(settings, changed) if changed else {"files": 0, "hashed": 0, "extracted": 0, "packs": 0}
    return {**result, "seconds": time.perf_counter() - start, "fingerprints": current}


def _peak_memory_child(settings: Settings, queue) -> None:
    classify_archive(settings)
    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def peak_memory(settings: Settings) -> int:
    """Peak RSS in bytes of a cold classification of the whole archive, in a fresh process."""
    shutil.rmtree(settings.layout.cache_dir, ignore_errors=True)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_peak_memory_child, args=(settings, queue))
    process.start()
    peak = queue.get()
    process.join()
    return peak


def run_benchmark(work_dir: Path, models_from: Settings, files: int | None = None, archive: Path | None = None,
                  peer_sample: int = 1000, memory_sizes: tuple[int, ...] = (), runs: int = 0,
                  log=print) -> dict:
    """Every measurement, as a dict (also written to work_dir/bench.json)."""
    work_dir = Path(work_dir)
    if archive is None:
        archive = work_dir / "archive"
        if not archive.exists():
            log(f"synthesizing {files} files into {archive} ...")
            synthesize_archive(archive, files)
    params = FeatureParams()
    paths = [f.path for f in scan_audio_files(archive)]
    if not paths:
        raise ValueError(f"no audio files in {archive}")
    workers = os.cpu_count() or 1
    shutil.rmtree(work_dir / "out", ignore_errors=True)
    settings = _bench_settings(archive, work_dir / "out", models_from)
    results: dict = {"files": len(paths), "cores": workers}
    log(f"{len(paths)} files; decode limit ...")
    results["limit_files_per_s"] = decode_limit(paths, params, workers)
    sample = paths[:: max(1, len(paths) // peer_sample)][:peer_sample]
    log(f"naive librosa peer on {len(sample)} of them ...")
    results["peer_files_per_s"] = naive_peer(sample, params)
    log("the pipeline's feature extraction alone ...")
    results["extraction_files_per_s"] = extraction_ceiling(paths, params, work_dir / "extraction_cache", workers)
    log("pipeline, cold caches ...")
    cold = classify_archive(settings)
    results["pipeline_files_per_s"] = cold["files"] / cold["seconds"]
    results["pipeline_seconds"] = cold["seconds"]
    results["pipeline_vs_limit"] = results["pipeline_files_per_s"] / results["limit_files_per_s"]
    results["pipeline_vs_peer"] = results["pipeline_files_per_s"] / results["peer_files_per_s"]
    results["pipeline_load_seconds"] = cold["stages"].pop("loading the models")
    results["pipeline_stage_ms_per_file"] = {stage: 1000 * seconds / cold["files"]
                                             for stage, seconds in cold["stages"].items()}
    results["load_avg"] = os.getloadavg()
    known = pack_fingerprints(archive)
    unchanged = rescan(settings, known)
    results["rescan_unchanged_seconds"], results["rescan_unchanged_classified"] = unchanged["seconds"], unchanged["files"]
    if files is not None:
        added = max(1, len(paths) // 100)
        synthesize_archive(archive, added, seed=2, start=10_000_000)
        grown = rescan(settings, unchanged["fingerprints"])
        results["rescan_1pct_seconds"] = grown["seconds"]
        results["rescan_1pct_classified"] = grown["extracted"]
        results["rescan_1pct_vs_cold"] = grown["seconds"] / cold["seconds"]
        shutil.rmtree(archive / f"Pack {10_000_000 // 500:04d}", ignore_errors=True)
    for size in memory_sizes:
        sub = work_dir / f"memory_{size}"
        if not sub.exists():
            log(f"synthesizing {size} files for the memory run ...")
            synthesize_archive(sub / "archive", size)
        shutil.rmtree(sub / "out", ignore_errors=True)
        log(f"peak memory, {size} files ...")
        results[f"peak_rss_mb_{size}"] = peak_memory(_bench_settings(sub / "archive", sub / "out", models_from)) / 2**20
    if runs:
        results.update(pack_runs(archive, work_dir, models_from, list_packs(archive)[:runs], log))
    (work_dir / "bench.json").write_text(json.dumps(results, indent=1))
    return results


def _step_seconds(dagster_home: Path) -> list[float]:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        return [record.event_log_entry.dagster_event.event_specific_data.duration_ms / 1000
                for run in instance.get_runs()
                for record in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS).records]


def pack_runs(archive: Path, work_dir: Path, models_from: Settings, packs: list[str], log=print,
              executors: tuple[str, ...] = ("local", "dask")) -> dict:
    """The archive job as Dagster runs, one per pack, each a `dagster job execute` process (as a
    run launcher starts them), with cold caches: one after another and all at once, with the
    default executor and on a loopback Dask cluster of two workers; and all packs in one run (the
    asset's backfill policy). Per mode: the wall time and the overhead per partition (a run's
    wall time less its step's time)."""
    from drum_pipeline.cli.cluster import loopback_cluster, run_packs
    from drum_pipeline.defs.automation.executor import SCHEDULER_ENV

    results: dict = {"runs_packs": len(packs), **one_run_for_all_packs(archive, work_dir, models_from, packs, log)}
    for executor in executors:
        for at_once in (False, True):
            mode = f"{executor}_{'at_once' if at_once else 'in_turn'}"
            root = work_dir / "runs" / mode
            home, env = _run_home(archive, root, models_from, packs)
            log(f"{len(packs)} pack runs, {mode.replace('_', ' ')} ...")
            with loopback_cluster(root / "dask", env) if executor == "dask" else contextlib.nullcontext() as cluster:
                if cluster:
                    env[SCHEDULER_ENV] = cluster[0]
                start = time.perf_counter()
                run_seconds = run_packs(packs, env, root, at_once=at_once)
                results[f"runs_{mode}_seconds"] = time.perf_counter() - start
            if not at_once:
                steps = _step_seconds(home)
                results[f"runs_{executor}_overhead_per_partition_seconds"] = (
                    sum(run_seconds.values()) - sum(steps)) / len(packs)
    return results


def _run_home(archive: Path, root: Path, models_from: Settings, packs: list[str]) -> tuple[Path, dict[str, str]]:
    """A fresh Dagster home under `root` with `packs` registered, and the environment of runs that
    classify `archive` into `root/output` with the real models (no Dask unless a mode starts one)."""
    import dagster as dg

    from drum_pipeline.defs.automation.executor import SCHEDULER_ENV
    from drum_pipeline.defs.shared import archive_packs

    shutil.rmtree(root, ignore_errors=True)
    settings = _bench_settings(archive, root / "output", models_from)
    home = root / "dagster_home"
    home.mkdir(parents=True)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(archive_packs.name, packs)
    env = {key: value for key, value in os.environ.items() if key != SCHEDULER_ENV}
    env.update(DAGSTER_HOME=str(home), DRUM_ARCHIVE_DIR=str(archive), DRUM_OUTPUT_DIR=str(settings.output_dir),
               DRUM_LIBRARY_DIR=str(settings.library_dir))
    return home, env


def one_run_for_all_packs(archive: Path, work_dir: Path, models_from: Settings, packs: list[str], log=print) -> dict:
    """All `packs` in one `classify_archive` run over their partition range, cold caches, default executor."""
    from drum_pipeline.defs.automation.freshness import range_tags

    root = work_dir / "runs" / "one_run"
    home, env = _run_home(archive, root, models_from, packs)
    log(f"{len(packs)} packs in one run ...")
    start = time.perf_counter()
    dagster = str(Path(sys.executable).parent / "dagster")  # the one beside this interpreter, as run_packs does
    done = subprocess.run([dagster, "job", "execute", "-m", "drum_pipeline.definitions", "-j", "classify_archive",
                           "--tags", json.dumps(range_tags(packs[0], packs[-1]))],
                          env=env, cwd=root, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"the run over {len(packs)} packs failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return {"runs_one_run_seconds": seconds,
            "runs_one_run_overhead_per_partition_seconds": (seconds - sum(_step_seconds(home))) / len(packs)}


def format_results(results: dict) -> str:
    threads = f" (threads' time added, {results['cores']} threads)"
    extraction = results["extraction_files_per_s"]
    rows = [
        ("files", f"{results['files']}"),
        ("decode limit (window only, all cores)", f"{results['limit_files_per_s']:.0f} files/s"),
        ("naive peer (librosa.load + mfcc, 1 process)", f"{results['peer_files_per_s']:.0f} files/s"),
        ("feature extraction alone (decode, resample, features)",
         f"{extraction:.0f} files/s = {extraction / results['limit_files_per_s']:.2f} x limit, "
         f"{extraction / results['peer_files_per_s']:.1f} x peer"),
        ("pipeline, cold (hash, decode, features, classify, index)", f"{results['pipeline_files_per_s']:.0f} files/s"),
        ("pipeline / limit (target >= 0.5)", f"{results['pipeline_vs_limit']:.2f}"),
        ("pipeline / peer (target >= 5)", f"{results['pipeline_vs_peer']:.1f}"),
        ("  loading the models and known sounds (bundle)", f"{results['pipeline_load_seconds']:.2f} s"),
        *((f"  {stage}", f"{ms:.2f} ms per file" + (threads if stage in ("decoding", "features") else ""))
          for stage, ms in results["pipeline_stage_ms_per_file"].items()),
        ("re-scan, nothing changed", f"{results['rescan_unchanged_seconds']:.2f} s, "
                                     f"{results['rescan_unchanged_classified']} files classified"),
    ]
    if "rescan_1pct_seconds" in results:
        rows.append(("re-scan after adding 1% (target < 5% of cold)",
                     f"{results['rescan_1pct_seconds']:.2f} s = {results['rescan_1pct_vs_cold']:.1%} of cold, "
                     f"{results['rescan_1pct_classified']} decoded"))
    if "runs_packs" in results:
        rows.append((f"{results['runs_packs']} packs in one run, default executor",
                     f"{results['runs_one_run_seconds']:.1f} s; overhead "
                     f"{results['runs_one_run_overhead_per_partition_seconds']:.1f} s per partition"))
        for executor, name in (("local", "default executor"), ("dask", "Dask, 2 workers on this machine")):
            if f"runs_{executor}_in_turn_seconds" not in results:
                continue
            rows.append((f"{results['runs_packs']} pack runs, {name}",
                         f"{results[f'runs_{executor}_in_turn_seconds']:.1f} s one after another, "
                         f"{results[f'runs_{executor}_at_once_seconds']:.1f} s all at once; overhead "
                         f"{results[f'runs_{executor}_overhead_per_partition_seconds']:.1f} s per partition"))
    rows += [(f"peak RSS, {key.rsplit('_', 1)[1]} files", f"{value:.0f} MB")
             for key, value in results.items() if key.startswith("peak_rss_mb_")]
    rows.append(("machine load (1, 5, 15 min) before the pipeline", " ".join(f"{x:.1f}" for x in results["load_avg"])))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
