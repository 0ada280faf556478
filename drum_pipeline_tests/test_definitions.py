import subprocess
import sys

import dagster as dg
import pytest

from drum_pipeline.audio.folders import fingerprint, has_audio, scan_audio_files
from drum_pipeline.config.settings import Settings
from drum_pipeline.definitions import defs as load_definitions
from drum_pipeline.demo.data import ensure_demo_archive, ensure_demo_library

defs = load_definitions()


def test_definitions_validate_as_the_dagster_cli_does():
    dg.Definitions.validate_loadable(defs)
    assert {job.name for job in defs.resolve_all_job_defs()} >= {"drum_pipeline", "classify_archive", "rebuild_archive",
                                                                 "model_selection"}


def test_definitions_load():
    assert {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()} >= {
        "sample_library",
        "sample_archive",
    }


def test_pipeline_job_observes_the_folders_by_fingerprint(trained, small_demo):
    _, _, _, instance = trained  # the main job's run on the small demo
    for key, folder in (("sample_library", small_demo / "library"), ("sample_archive", small_demo / "archive")):
        record = instance.get_latest_data_version_record(dg.AssetKey(key))
        tags = record.asset_observation.tags
        assert tags["dagster/data_version"] == fingerprint(scan_audio_files(folder))


def test_demo_is_written_only_into_the_default_folders(tmp_path, monkeypatch):
    for var in ("DRUM_LIBRARY_DIR", "DRUM_ARCHIVE_DIR", "DRUM_OUTPUT_DIR"):
        monkeypatch.delenv(var, raising=False)
    named = tmp_path / "my library"
    named.mkdir()
    user = Settings.resolve(library_dir=str(named), archive_dir=str(tmp_path / "my archive"))
    assert ensure_demo_library(user.library_dir, user.library_is_default, user.seed) is None
    assert ensure_demo_archive(user.archive_dir, user.archive_is_default, user.seed) is None
    assert list(named.iterdir()) == [] and not (tmp_path / "my archive").exists()

    monkeypatch.chdir(tmp_path)
    default = Settings.resolve()
    assert default.library_dir == tmp_path / "data" / "library"
    assert "demo library" in ensure_demo_library(default.library_dir, default.library_is_default, default.seed)
    assert has_audio(default.library_dir)
    assert ensure_demo_library(default.library_dir, True, default.seed) is None  # already there: nothing rewritten


def test_cli_help_and_bad_arguments():
    out = subprocess.run([sys.executable, "-m", "drum_pipeline.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "run" in out.stdout and "demo" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "drum_pipeline.cli", "fly"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_training_and_cache_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("DRUM_SYNTHETIC_PER_LABEL", "0")
    monkeypatch.setenv("DRUM_CACHE_DIR", str(tmp_path / "local cache"))
    settings = Settings.resolve(output_dir=str(tmp_path / "out"))
    assert settings.training_config().synthetic_per_label == 0
    assert settings.layout.cache_dir == tmp_path / "local cache"
    assert settings.layout.hash_cache_path.parent == tmp_path / "local cache"
    monkeypatch.delenv("DRUM_CACHE_DIR")
    assert Settings.resolve(output_dir=str(tmp_path / "out")).layout.cache_dir == tmp_path / "out" / "cache"
    monkeypatch.setenv("DRUM_SYNTHETIC_PER_LABEL", "lots")
    with pytest.raises(ValueError, match="DRUM_SYNTHETIC_PER_LABEL='lots'"):
        Settings.resolve()


def test_a_run_of_the_cli_keeps_the_drum_variables_beside_its_flags(monkeypatch):
    """A run config's resource fields replace every field the definitions set: the CLI gives them all."""
    from drum_pipeline.cli.run import pipeline_run_config

    monkeypatch.setenv("DRUM_MIN_MACRO_F1", "0")
    monkeypatch.setenv("DRUM_ARCHIVE_DIR", "/somewhere/archive")
    monkeypatch.delenv("DRUM_MAX_EPOCHS", raising=False)
    config = pipeline_run_config(library_dir="/my/library")["resources"]["config"]["config"]
    assert config["library_dir"] == "/my/library" and config["archive_dir"] == "/somewhere/archive"
    assert config["min_macro_f1"] == 0.0 and config["max_epochs"] == 0 and config["output_dir"] == "data/output"
