from pathlib import Path

import pytest

from drum_pipeline.demo import make_demo_archive, make_demo_library


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """A small demo library and archive (about a quarter of the default size), made once per session."""
    root = tmp_path_factory.mktemp("small_demo")
    make_demo_library(root / "library", seed=11, scale=0.25)
    make_demo_archive(root / "archive", seed=11, scale=0.25)
    return root


@pytest.fixture(scope="session")
def trained(small_demo, tmp_path_factory):
    """The small demo's pipeline materialized through the evaluation (quick training: 4 epochs).

    Returns (config, output folder, the materialize result)."""
    import dagster as dg

    from drum_pipeline.definitions import defs
    from drum_pipeline.resources import DrumPipelineConfig

    output = tmp_path_factory.mktemp("trained") / "out"
    config = DrumPipelineConfig(library_dir=str(small_demo / "library"), archive_dir=str(small_demo / "archive"),
                                output_dir=str(output), max_epochs=4, min_macro_f1=0.0)
    assets = [a for a in defs.assets]
    selection = dg.AssetSelection.assets("evaluation_report").upstream()
    result = dg.materialize(assets, resources={"config": config}, selection=selection)
    assert result.success
    return config, output, result


def _snapshot(root):
    """sha256 and mtime of every audio file under root."""
    import hashlib

    from drum_pipeline.folders import scan_audio_files

    return {f.relpath: (hashlib.sha256(f.path.read_bytes()).hexdigest(), f.path.stat().st_mtime_ns)
            for f in scan_audio_files(root)}


@pytest.fixture(scope="session")
def indexed(trained, small_demo):
    """`trained`, then every pack's archive_index partition and the rebuilt archive, on one instance.

    Returns (config, output, archive, snapshot before, instance, packs, the rebuild's result)."""
    import dagster as dg

    from drum_pipeline.archive import list_packs
    from drum_pipeline.assets.partitions import archive_packs
    from drum_pipeline.definitions import defs

    config, output, _ = trained
    archive = small_demo / "archive"
    before = _snapshot(archive)
    instance = dg.DagsterInstance.ephemeral()
    packs = list_packs(archive)
    instance.add_dynamic_partitions(archive_packs.name, packs)
    for pack in packs:
        assert dg.materialize(list(defs.assets), resources={"config": config}, selection=["archive_index"],
                              instance=instance, partition_key=pack).success
    rebuild = dg.materialize(list(defs.assets), resources={"config": config}, selection=["rebuilt_archive"],
                             instance=instance)
    assert rebuild.success
    return config, output, archive, before, instance, packs, rebuild


@pytest.fixture
def snapshot():
    """A function: the sha256 and mtime of every audio file under a folder."""
    return _snapshot
