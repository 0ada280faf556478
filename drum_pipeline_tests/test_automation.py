"""The sensor, the schedule and the automation conditions, on real Dagster instances."""

import os
import shutil

import dagster as dg
import pytest

from drum_pipeline.config.settings import from_environment
from drum_pipeline.definitions import defs as load_definitions
from drum_pipeline.defs.resources import DrumPipelineConfig, pipeline_resources
from drum_pipeline.defs.shared import archive_packs

defs = load_definitions()


def _tick(instance, config, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"config": config})
    result = defs.get_sensor_def("archive_sensor")(context)
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(archive_packs.name, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(archive_packs.name, key)
    return result


def _requests(result, instance):
    """(job, pack) per pack requested: a run over a range of packs counts each of them."""
    order = instance.get_dynamic_partitions(archive_packs.name)
    requested = []
    for request in result.run_requests or []:
        start = request.tags.get("dagster/asset_partition_range_start")
        end = request.tags.get("dagster/asset_partition_range_end")
        packs = order[order.index(start):order.index(end) + 1] if start else [request.partition_key]
        requested += [(request.job_name, pack) for pack in packs]
    return sorted(requested)


@pytest.fixture
def own_archive(trained, tmp_path):
    """A copy of the trained output and of the archive, on a fresh instance that knows the library."""
    config, output, _, trained_instance = trained
    shutil.copytree(output, tmp_path / "out", symlinks=True)
    shutil.copytree(config.archive_dir, tmp_path / "archive")
    own = DrumPipelineConfig(**{**config.model_dump(), "archive_dir": str(tmp_path / "archive"),
                                "output_dir": str(tmp_path / "out")})
    instance = dg.DagsterInstance.ephemeral()
    library = trained_instance.get_latest_data_version_record(dg.AssetKey("sample_library")).asset_observation.tags
    instance.report_runless_asset_event(dg.AssetObservation("sample_library", tags={
        "dagster/data_version": library["dagster/data_version"]}))
    return own, tmp_path / "archive", instance


def test_sensor_retrains_what_the_accurate_mode_changes_once_per_switch(own_archive):
    from drum_pipeline.defs.automation.freshness import ACCURATE_MODE_ASSETS

    config, _, instance = own_archive

    def switch_runs(accurate: bool):
        result = _tick(instance, DrumPipelineConfig(**{**config.model_dump(), "accurate": accurate}))
        return [request for request in result.run_requests or [] if request.job_name == "drum_pipeline"]

    assert switch_runs(True) == []  # never trained here: nothing to switch
    instance.report_runless_asset_event(dg.AssetMaterialization("embedding_model", metadata={"used": False}))
    assert switch_runs(False) == []
    (switched,) = switch_runs(True)
    assert {key.to_user_string() for key in switched.asset_selection} == set(ACCURATE_MODE_ASSETS)
    assert [request.run_key for request in switch_runs(True)] == [switched.run_key]  # one run for the switch
    instance.report_runless_asset_event(dg.AssetMaterialization("embedding_model", metadata={"used": True}))
    assert switch_runs(True) == []  # retrained in the mode
    (back,) = switch_runs(False)
    assert back.run_key != switched.run_key


def test_sensor_runs_exactly_what_changed(own_archive):
    config, archive, instance = own_archive
    first = _tick(instance, config)
    packs = sorted(instance.get_dynamic_partitions(archive_packs.name))
    assert len(first.run_requests) == 1  # all packs in one run
    assert _requests(first, instance) == [("classify_archive", pack) for pack in packs]  # nothing known yet

    second = _tick(instance, config, first.cursor)
    assert not second.run_requests and "nothing changed" in str(second.skip_reason)

    shutil.copytree(archive / "Linn LM-1", archive / "New Pack")
    added = _tick(instance, config, second.cursor or first.cursor)
    assert _requests(added, instance) == [("classify_archive", "New Pack")]
    assert "New Pack" in instance.get_dynamic_partitions(archive_packs.name)

    victim = next((archive / "Unknown Pack A").rglob("*.wav"))
    st = victim.stat()
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    touched = _tick(instance, config, added.cursor)
    assert _requests(touched, instance) == [("classify_archive", "Unknown Pack A")]

    shutil.rmtree(archive / "New Pack")
    removed = _tick(instance, config, touched.cursor)
    assert _requests(removed, instance) == [("rebuild_archive", None)]
    assert "New Pack" not in instance.get_dynamic_partitions(archive_packs.name)


def test_a_touched_file_and_a_reclassification_decode_nothing(own_archive):
    config, archive, instance = own_archive
    instance.add_dynamic_partitions(archive_packs.name, ["Unknown Pack A"])

    def work():
        result = dg.materialize(list(defs.assets), selection=["archive_index"], partition_key="Unknown Pack A",
                                resources=pipeline_resources(config), instance=instance)
        metadata = result.asset_materializations_for_node("archive_index")[0].metadata
        return {key: metadata[f"work_{key}"].value for key in ("files", "hashed", "extracted")}

    first = work()
    assert first["hashed"] == first["files"] > 0  # new paths (the features may be cached already)
    assert work() == {"files": first["files"], "hashed": 0, "extracted": 0}  # a re-classification decodes nothing
    victim = next((archive / "Unknown Pack A").rglob("*.wav"))
    st = victim.stat()
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert work() == {"files": first["files"], "hashed": 1, "extracted": 0}


def _requested(result):
    return {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()
            if result.get_num_requested(key)}


def test_automation_requests_exactly_the_stale_assets(trained, indexed):
    _, _, _, instance = trained
    quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert quiet.total_requested == 0  # nothing changed

    instance.report_runless_asset_event(dg.AssetObservation("taxonomy", tags={"dagster/data_version": "edited"}))
    edited = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
    stale = _requested(edited)
    assert {"label_extraction", "curated_training_set", "model1", "model2_encoder", "model2_classifier",
            "evaluation_report"} <= stale
    assert not stale & {"sample_library", "sample_archive", "taxonomy", "cross_validation"}
    # The index follows once the retrained models are evaluated (below), not before.

    retrained = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=edited.cursor)
    instance.report_runless_asset_event(dg.AssetMaterialization("evaluation_report"))
    evaluated = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=retrained.cursor)
    assert {"sorting_thresholds", "deployed_models"} <= _requested(evaluated)
    assert "archive_index" not in _requested(evaluated)  # not before the deployed models' bundle
    for key in ("sorting_thresholds", "deployed_models", "inference_bundle"):
        instance.report_runless_asset_event(dg.AssetMaterialization(key))
    deployed = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=evaluated.cursor)
    assert "archive_index" in _requested(deployed)
    assert deployed.get_num_requested(dg.AssetKey("archive_index")) == len(
        instance.get_dynamic_partitions(archive_packs.name))


def test_schedule_and_sensors_are_on_by_default(monkeypatch):
    monkeypatch.delenv("DRUM_RESCAN_CRON", raising=False)
    schedule = load_definitions().get_schedule_def("daily_rescan")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.cron_schedule == "0 4 * * *"
    for sensor in defs.sensors:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING, sensor.name


def test_the_environment_is_read_when_the_definitions_load_not_at_import(monkeypatch, tmp_path):
    monkeypatch.setenv("DRUM_RESCAN_CRON", "30 2 * * *")
    monkeypatch.setenv("DRUM_LIBRARY_DIR", str(tmp_path / "lib"))
    monkeypatch.setenv("DRUM_MIN_MACRO_F1", "0.25")
    loaded = load_definitions()
    assert loaded.get_schedule_def("daily_rescan").cron_schedule == "30 2 * * *"
    config = loaded.resources["config"]  # the UI shows the variable a path came from, resolved at run time
    assert config.library_dir.env_var_name == "DRUM_LIBRARY_DIR" and config.library_dir.get_value() == str(tmp_path / "lib")
    assert config.min_macro_f1 == 0.25 and config.output_dir == "data/output"
    monkeypatch.setenv("DRUM_MIN_MACRO_F1", "lots")
    with pytest.raises(ValueError, match="DRUM_MIN_MACRO_F1='lots': give a number"):
        from_environment()
