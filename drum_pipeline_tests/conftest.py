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
