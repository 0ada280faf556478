"""Archive classification on a real Dask cluster (a scheduler and two workers on loopback, as
separate processes), and the production configuration examples."""

import importlib
import os
import shutil
import socket
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from drum_pipeline.cli.cluster import loopback_cluster, run_packs
from drum_pipeline.defs.automation.executor import archive_executor
from drum_pipeline.defs.shared import archive_packs

REPO = Path(__file__).resolve().parents[1]


def test_packs_classified_on_a_dask_cluster_equal_the_local_index(indexed, tmp_path):
    config, output, archive, _, _, packs, _ = indexed
    # The same models, no index and no caches (the workers decode the audio themselves): what they
    # write is compared to the local run
    shared_output = tmp_path / "shared_output"
    shutil.copytree(output, shared_output, ignore=shutil.ignore_patterns("archive_index", "rebuilt", "jsonl", "cache"))
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "OPENBLAS_NUM_THREADS": "1", "DRUM_OUTPUT_DIR": str(shared_output),
           "DRUM_ARCHIVE_DIR": str(archive), "DRUM_LIBRARY_DIR": config.library_dir}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(archive_packs.name, packs)
    chosen = packs[:4]  # the archive root, broken files and non-drums among them

    with loopback_cluster(tmp_path / "dask", env) as (address, worker_pids):
        # all at once: concurrent runs of one job must not share Dask task keys
        run_packs(chosen, {**env, "DRUM_DASK_SCHEDULER": address}, tmp_path, at_once=True)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        step_pids = [record.event_log_entry.dagster_event.pid for run in instance.get_runs()
                     for record in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_START).records]
    assert len(step_pids) == len(chosen) and set(step_pids) <= worker_pids  # every step ran on a Dask worker

    for pack in chosen:
        local = pd.read_parquet(output / "tables" / "archive_index" / f"{pack}.parquet")
        distributed = pd.read_parquet(shared_output / "tables" / "archive_index" / f"{pack}.parquet")
        assert len(local) > 0
        pd.testing.assert_frame_equal(distributed, local)


def test_an_unreachable_scheduler_fails_the_run_with_what_to_do(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(archive_packs.name, ["Pack"])
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    env = {**os.environ, "DAGSTER_HOME": str(home), "DRUM_OUTPUT_DIR": str(tmp_path / "out"),
           "DRUM_DASK_SCHEDULER": address, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    with pytest.raises(RuntimeError, match=f"the Dask scheduler at {address} .DRUM_DASK_SCHEDULER. did not answer"):
        run_packs(["Pack"], env, tmp_path)
    assert not (tmp_path / "out" / "tables").exists()


def test_the_dask_switch():
    assert archive_executor("") is None  # the default: Dagster's multiprocess executor, no server to start
    assert archive_executor("local").name == archive_executor("tcp://10.0.0.5:8786").name == "dask_packs"
    with pytest.raises(ValueError, match="scheduler address"):
        archive_executor("my cluster")


def test_production_examples_validate():
    """deploy/dagster.yaml (PostgreSQL storage, queued runs, the Kubernetes run launcher) and the
    k8s_job_executor run config validate against the installed dagster-postgres and dagster-k8s."""
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster_k8s import k8s_job_executor

    instance_config, _ = dagster_instance_config(str(REPO / "deploy"), "dagster.yaml")
    assert "postgres" in instance_config["storage"] and instance_config["run_queue"]["max_concurrent_runs"] > 1
    sections = {"storage": {"module": "dagster_postgres", "class": "DagsterPostgresStorage",
                            "config": instance_config["storage"]["postgres"]},
                "run_launcher": instance_config["run_launcher"]}
    for name, data in sections.items():
        configurable = getattr(importlib.import_module(data["module"]), data["class"])
        result = validate_config(configurable.config_type(), data.get("config") or {})
        assert result.success, (name, [error.message for error in result.errors])

    from drum_pipeline.definitions import defs as load_definitions
    from drum_pipeline.defs.archive.assets import archive_index
    defs = load_definitions()

    job = dg.define_asset_job("classify_archive_k8s", selection=[archive_index], executor_def=k8s_job_executor)
    resolved = dg.Definitions(assets=list(defs.assets), jobs=[job], resources=defs.resources).resolve_job_def(job.name)
    run_config = yaml.safe_load((REPO / "deploy" / "classify_archive_k8s.yaml").read_text())
    assert dg.validate_run_config(resolved, run_config)
