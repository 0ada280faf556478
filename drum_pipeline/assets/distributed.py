"""Archive classification on a Dask cluster: the executor behind `DRUM_DASK_SCHEDULER`.

Packs stay the unit of distribution: every pack is one run of `classify_archive` with one step,
and the steps of concurrent runs go to the cluster's workers. Each worker loads this project,
the instance (a persistent DAGSTER_HOME every worker can reach) and the same DRUM_* settings,
and writes to the shared output folder.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import dask.distributed
from dagster._core.errors import raise_execution_interrupts
from dagster._utils import iterate_with_context
from dagster_dask.executor import DaskExecutor, get_dask_resource_requirements, query_on_dask_worker

SCHEDULER_ENV = "DRUM_DASK_SCHEDULER"


class RunScopedDaskExecutor(DaskExecutor):
    """dagster-dask's executor with the run id in every Dask task key.

    Upstream names a step's task `<job>.<step>`; two runs of the same job (two packs) on one
    cluster then share a key, and Dask hands the second run the first run's result without
    running its step (dagster-io/dagster#21418). The step's arguments travel bound in a partial:
    Dask walks tuple-like arguments, which Dagster's records refuse. Offers the `existing` and
    `local` clusters only.
    """

    def execute(self, plan_context, execution_plan):
        if not plan_context.instance.is_persistent:
            raise dg.DagsterInvariantViolationError(
                "the Dask executor needs a persistent Dagster instance: set DAGSTER_HOME")
        if self.cluster_type == "existing":
            cluster = self.cluster_configuration["address"]
        elif self.cluster_type == "local":
            cluster = dask.distributed.LocalCluster(**self.build_dict(plan_context.job_name))
        else:
            raise ValueError(f"unsupported Dask cluster type {self.cluster_type!r}: use existing or local")
        run = plan_context.dagster_run
        futures: dict[str, dask.distributed.Future] = {}
        try:
            try:
                client = dask.distributed.Client(cluster)
            except OSError as exc:
                raise dg.Failure(f"the Dask scheduler at {cluster} ({SCHEDULER_ENV}) did not answer: start it, "
                                 f"or unset {SCHEDULER_ENV} to classify on this machine ({exc})") from None
            with client:
                for step_level in execution_plan.get_steps_to_execute_by_level():
                    for step in step_level:
                        dependencies = [futures[key] for step_input in step.step_inputs
                                        for key in step_input.dependency_keys]
                        step_on_worker = functools.partial(
                            query_on_dask_worker, recon_job=plan_context.reconstructable_job, dagster_run=run,
                            run_config=plan_context.run_config, step_keys=[step.key],
                            instance_ref=plan_context.instance.get_ref(), known_state=execution_plan.known_state)
                        futures[step.key] = client.submit(
                            step_on_worker, dependencies, key=f"{plan_context.job_name}.{step.key}.{run.run_id}",
                            resources=get_dask_resource_requirements(step.tags))
                completed = dask.distributed.as_completed(list(futures.values()), with_results=True)
                for _future, events in iterate_with_context(raise_execution_interrupts, completed):
                    yield from events
        finally:
            if not isinstance(cluster, str):
                cluster.close()


@dg.executor(name="dask_packs", requirements=dg.multiple_process_executor_requirements(),
             config_schema={"cluster": dg.Field(dg.Selector({
                 "existing": dg.Field({"address": dg.StringSource}, description="a running scheduler"),
                 "local": dg.Field(dg.Permissive(), is_required=False,
                                   description="a LocalCluster started for the run (distributed.LocalCluster keywords)"),
             }))})
def dask_packs_executor(init_context: dg.InitExecutorContext) -> RunScopedDaskExecutor:
    """Runs each step of a run as a task on a Dask cluster (see RunScopedDaskExecutor)."""
    ((cluster_type, cluster_config),) = init_context.executor_config["cluster"].items()
    return RunScopedDaskExecutor(cluster_type, cluster_config)


def archive_executor(scheduler: str | None = None) -> dg.ExecutorDefinition | None:
    """The archive job's executor from `DRUM_DASK_SCHEDULER`: unset, None (the default
    multiprocess executor); `local`, a two-worker LocalCluster per run; an address such as
    tcp://10.0.0.5:8786, that running cluster."""
    scheduler = scheduler if scheduler is not None else os.environ.get(SCHEDULER_ENV, "").strip()
    if not scheduler:
        return None
    if scheduler == "local":
        cluster = {"local": {"n_workers": 2, "threads_per_worker": 1}}
    elif "://" in scheduler or ":" in scheduler:
        cluster = {"existing": {"address": scheduler}}
    else:
        raise ValueError(f"{SCHEDULER_ENV}={scheduler!r}: give a scheduler address (tcp://host:8786) or 'local'")
    return dask_packs_executor.configured({"cluster": cluster}, name="dask_packs")


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
