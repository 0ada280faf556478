import os
from pathlib import Path

import pandas as pd
import pytest

from drum_pipeline.demo.data import make_demo_archive, make_demo_library
from drum_pipeline.real_sounds.base_corpus import BASE_CORPUS_PATH

TRAINED_FIXTURES = {"trained", "indexed", "indexed_copy", "first_run", "corrected"}
# The trainings of the tests hear one small source of the base corpus (its 8 exadrums drums), so
# they stay quick; README command 1 in CI trains with all of it. Runs that read the DRUM_* variables
# (the CLI's) get the same.
BASE_CORPUS_EXCLUDE = ",".join(sorted(set(pd.read_parquet(BASE_CORPUS_PATH, columns=["source"])["source"]) - {"exadrums"}))
os.environ.setdefault("DRUM_BASE_CORPUS_EXCLUDE", BASE_CORPUS_EXCLUDE)


def pytest_collection_modifyitems(items):
    """The tests that train models (through the fixtures that do, or marked by hand) form the `slow` tier."""
    for item in items:
        if TRAINED_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def definitions():
    """The project's Definitions object, loaded once."""
    from drum_pipeline.definitions import defs

    return defs()


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """A small demo library and archive (about a quarter of the default size), made once per session."""
    root = tmp_path_factory.mktemp("small_demo")
    make_demo_library(root / "library", seed=11, scale=0.25)
    make_demo_archive(root / "archive", seed=11, scale=0.25)
    return root


@pytest.fixture(scope="session")
def trained(small_demo, tmp_path_factory, definitions):
    """The small demo's main job (observations through the deployed models; quick training, 4
    epochs, 4 synthesized drums per fine label) on one instance, as `drum-pipeline run` does it.

    Returns (config, output folder, the job's result, the instance)."""
    import dagster as dg

    from drum_pipeline.defs.resources import DrumPipelineConfig

    output = tmp_path_factory.mktemp("trained") / "out"
    config = DrumPipelineConfig(library_dir=str(small_demo / "library"), archive_dir=str(small_demo / "archive"),
                                output_dir=str(output), max_epochs=4, min_macro_f1=0.0, synthetic_per_label=4,
                                base_corpus_exclude=BASE_CORPUS_EXCLUDE)
    instance = dg.DagsterInstance.ephemeral()
    result = definitions.resolve_job_def("drum_pipeline").execute_in_process(
        instance=instance, run_config={"resources": {"config": {"config": config.model_dump()}}})
    assert result.success
    return config, output, result, instance


def _snapshot(root):
    """sha256 and mtime of every audio file under root."""
    import hashlib

    from drum_pipeline.audio.folders import scan_audio_files

    return {f.relpath: (hashlib.sha256(f.path.read_bytes()).hexdigest(), f.path.stat().st_mtime_ns)
            for f in scan_audio_files(root)}


@pytest.fixture(scope="session")
def indexed(trained, small_demo, definitions):
    """`trained`, then every pack's archive_index partition and the rebuilt archive, on one instance.

    Returns (config, output, archive, snapshot before, instance, packs, the rebuild's result)."""
    import dagster as dg

    from drum_pipeline.archive.index import list_packs
    from drum_pipeline.defs.resources import pipeline_resources
    from drum_pipeline.defs.shared import archive_packs

    config, output, _, instance = trained
    archive = small_demo / "archive"
    before = _snapshot(archive)
    packs = list_packs(archive)
    instance.add_dynamic_partitions(archive_packs.name, packs)  # as the archive sensor registers them
    assets = list(definitions.assets)
    for pack in packs:
        assert dg.materialize(assets, resources=pipeline_resources(config), selection=["archive_index"],
                              instance=instance, partition_key=pack).success
    rebuild = dg.materialize(assets, resources=pipeline_resources(config), selection=["rebuilt_archive"],
                             instance=instance)
    assert rebuild.success
    return config, output, archive, before, instance, packs, rebuild


@pytest.fixture(scope="session")
def indexed_copy(indexed, tmp_path_factory):
    """A function: a copy of the indexed output (the session's stays as it is) under a new folder,
    as (config, output, archive, the environment the CLI reads)."""
    import os
    import shutil

    from drum_pipeline.defs.resources import DrumPipelineConfig

    config, output, archive, *_ = indexed

    def copy(name: str):
        base = tmp_path_factory.mktemp(name)
        shutil.copytree(output, base / "out", symlinks=True)
        own = DrumPipelineConfig(**{**config.model_dump(), "output_dir": str(base / "out")})
        env = {**os.environ, "DRUM_OUTPUT_DIR": str(base / "out"), "DRUM_ARCHIVE_DIR": str(archive),
               "DRUM_LIBRARY_DIR": config.library_dir, "OPENBLAS_NUM_THREADS": "1",
               "DAGSTER_HOME": str(base / "home")}
        return own, base / "out", archive, env

    return copy


@pytest.fixture
def snapshot():
    """A function: the sha256 and mtime of every audio file under a folder."""
    return _snapshot
