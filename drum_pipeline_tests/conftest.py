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
