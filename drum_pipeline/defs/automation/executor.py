"""Archive classification on a Dask cluster: the executor behind `DRUM_DASK_SCHEDULER`.

Packs stay the unit of distribution: every pack is one run of `classify_archive` with one step,
and the steps of concurrent runs go to the cluster's workers. Each worker loads this project,
the instance (a persistent DAGSTER_HOME every worker can reach) and the same DRUM_* settings,
and writes to the shared output folder.
"""

from __future__ import annotations

import functools

import dagster as dg
import dask.distributed
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
                for _future, events in completed:
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


def archive_executor(scheduler: str) -> dg.ExecutorDefinition | None:
    """The archive job's executor for `scheduler` (DRUM_DASK_SCHEDULER): empty, None (the default
    multiprocess executor); `local`, a two-worker LocalCluster per run; an address such as
    tcp://10.0.0.5:8786, that running cluster."""
    scheduler = scheduler.strip()
    if not scheduler:
        return None
    if scheduler == "local":
        cluster = {"local": {"n_workers": 2, "threads_per_worker": 1}}
    elif "://" in scheduler or ":" in scheduler:
        cluster = {"existing": {"address": scheduler}}
    else:
        raise ValueError(f"{SCHEDULER_ENV}={scheduler!r}: give a scheduler address (tcp://host:8786) or 'local'")
    return dask_packs_executor.configured({"cluster": cluster}, name="dask_packs")
