"""A Dask cluster on this machine and per-pack Dagster runs through the dagster CLI: what the
benchmark and the tests use to measure and check the distributed archive path."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dask.distributed


@contextlib.contextmanager
def loopback_cluster(work_dir: Path, env: dict[str, str], workers: int = 2) -> Iterator[tuple[str, set[int]]]:
    """A Dask scheduler and `workers` single-threaded workers on 127.0.0.1, each its own process
    with `env`; yields (scheduler address, worker pids) and stops them all afterwards."""
    work_dir.mkdir(parents=True, exist_ok=True)
    scheduler_file = work_dir / "scheduler.json"
    scheduler_file.unlink(missing_ok=True)
    processes: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        with open(work_dir / f"dask-{args[0]}-{len(processes)}.log", "w") as log:
            processes.append(subprocess.Popen([sys.executable, "-m", "dask", *args, "--no-dashboard"], env=env,
                                              cwd=work_dir, stdout=log, stderr=subprocess.STDOUT))
        return processes[-1]

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(scheduler_file))
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            if time.monotonic() > deadline or processes[0].poll() is not None:
                raise RuntimeError(f"the Dask scheduler did not start: see {work_dir}")
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        pids = {start("worker", address, "--nthreads", "1", "--no-nanny", "--name", f"worker-{i}").pid
                for i in range(1, workers + 1)}
        with dask.distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=60)
        yield address, pids
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def run_packs(packs: list[str], env: dict[str, str], cwd: Path, at_once: bool = True) -> dict[str, float]:
    """Each pack as one run of `classify_archive` through the dagster CLI (a process per run, as
    a run launcher starts them), all at once or one after another; returns each run's wall time.
    Raises RuntimeError with the end of its log when a run fails."""
    def launch(pack: str) -> tuple[subprocess.Popen, float]:
        # the dagster beside this interpreter: the venv need not be activated (on PATH)
        command = [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m", "drum_pipeline.definitions",
                   "-j", "classify_archive", "--tags", json.dumps({"dagster/partition": pack})]
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True), time.monotonic()

    def finish(pack: str, process: subprocess.Popen, started: float) -> float:
        log = process.communicate()[0]
        if process.returncode != 0:
            raise RuntimeError(f"the run of pack {pack!r} failed:\n{log[-3000:]}")
        return time.monotonic() - started

    if at_once:
        launched = {pack: launch(pack) for pack in packs}
        return {pack: finish(pack, *launched[pack]) for pack in packs}
    return {pack: finish(pack, *launch(pack)) for pack in packs}
