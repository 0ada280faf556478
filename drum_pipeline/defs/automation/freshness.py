"""What is missing or stale, read from the events Dagster records (public APIs only): the Dagster
side of an incremental `drum-pipeline run` and of the pack sensor.

An asset is stale when its code version changed or an input's data version differs from the one
its last materialization recorded (as the UI's "stale"), and missing when it was never
materialized or the file it wrote is not in the output folder of this run: a home shared by
several output folders (or one whose folder was deleted) trains what this folder lacks.

A pack is classified again when its folder's fingerprint differs from the one its last
archive_index materialization recorded, or when anything upstream other than the archive
folder (the models, the thresholds, the corrections, the code) changed since: the archive's own
data version changes with any pack, so it cannot say which pack changed.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from drum_pipeline.defs.archive.assets import archive_index
from drum_pipeline.defs.inputs.assets import sample_archive
from drum_pipeline.defs.shared import MIRROR_PACKS, PACK_FINGERPRINT, packs_digest

DATA_VERSION_TAG = "dagster/data_version"
CODE_VERSION_TAG = "dagster/code_version"
INPUT_VERSION_TAG = "dagster/input_data_version/"


def _latest_record(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1).records
    return records[0] if records else None


def latest_materialization(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None):
    """The latest materialization event of `key` (of its `partition`), or None."""
    record = _latest_record(instance, key, partition)
    return record.asset_materialization if record else None


def current_data_version(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    """The data version of the latest observation or materialization of `key`."""
    record = instance.get_latest_data_version_record(key)
    event = record and (record.asset_observation or record.asset_materialization)
    return (event.tags or {}).get(DATA_VERSION_TAG) if event else None


def _changed_inputs(instance, spec: dg.AssetSpec, event, skip: set[dg.AssetKey]) -> list[str]:
    """The parents of `spec` whose data version differs from the one `event` recorded."""
    tags = event.tags or {}
    changed = []
    for dep in spec.deps:
        if dep.asset_key in skip:
            continue
        recorded = tags.get(INPUT_VERSION_TAG + dep.asset_key.to_user_string())
        if recorded != current_data_version(instance, dep.asset_key):
            changed.append(dep.asset_key.to_user_string())
    return changed


def _output_missing(event, output_dir: Path) -> bool:
    """Whether the path the materialization recorded is gone, or lies outside `output_dir`."""
    value = event.metadata.get("path")
    if value is None:
        return False
    path = Path(str(value.value))
    return not path.exists() or not path.resolve().is_relative_to(output_dir.resolve())


def stale_assets(defs: dg.Definitions, instance: dg.DagsterInstance, keys, output_dir: Path) -> list[dg.AssetKey]:
    """The unpartitioned assets of `keys` that are missing or stale (see the module's docstring)."""
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    partitioned = {key for key, spec in specs.items() if spec.partitions_def is not None}
    stale = []
    for key in keys:
        event = latest_materialization(instance, key)
        if (event is None or _output_missing(event, output_dir)
                or (event.tags or {}).get(CODE_VERSION_TAG) != specs[key].code_version
                or _changed_inputs(instance, specs[key], event, partitioned)):
            stale.append(key)
    return stale


ACCURATE_MODE_ASSETS = ("spectrogram_features", "base_corpus", "embedding_model")  # what the mode changes


def accurate_mode_changed(instance: dg.DagsterInstance, accurate: bool) -> list[dg.AssetKey]:
    """The assets to materialize again when the accurate mode was switched since the last training
    (the embedding member's last materialization records whether it was used); [] otherwise."""
    event = latest_materialization(instance, dg.AssetKey("embedding_model"))
    used = event.metadata.get("used") if event else None
    if used is None or bool(used.value) == accurate:
        return []
    return [dg.AssetKey(name) for name in ACCURATE_MODE_ASSETS]


def accurate_mode_run_key(instance: dg.DagsterInstance, accurate: bool) -> str:
    """A run key for this switch of the accurate mode: one run for it, and a new one for the next switch."""
    record = _latest_record(instance, dg.AssetKey("embedding_model"))
    return f"accurate-{'on' if accurate else 'off'}-{record.storage_id if record else 0}"


def recorded_fingerprint(instance: dg.DagsterInstance, pack: str, event=None) -> str | None:
    """The pack fingerprint the last archive_index materialization of `pack` (or `event`) recorded, if any."""
    event = event or latest_materialization(instance, archive_index.key, pack)
    value = event.metadata.get(PACK_FINGERPRINT) if event else None
    return value.value if value is not None else None


def packs_to_classify(defs: dg.Definitions, instance: dg.DagsterInstance, fingerprints: dict[str, str],
                      output_dir: Path) -> list[str]:
    """The packs of `fingerprints` (pack -> current fingerprint) never classified into this output
    folder, changed since, or stale for a reason other than the archive folder."""
    spec = next(spec for spec in defs.resolve_all_asset_specs() if spec.key == archive_index.key)

    def stale(pack: str, version: str) -> bool:
        event = latest_materialization(instance, archive_index.key, pack)
        if event is None or _output_missing(event, output_dir):
            return True
        return (recorded_fingerprint(instance, pack, event) != version
                or (event.tags or {}).get(CODE_VERSION_TAG) != spec.code_version
                or bool(_changed_inputs(instance, spec, event, {sample_archive.key})))

    return [pack for pack, version in fingerprints.items() if stale(pack, version)]


def mirror_packs_changed(instance: dg.DagsterInstance, packs) -> bool:
    """Whether the last rebuilt_archive was made for other packs than `packs` (a pack left the archive)."""
    event = latest_materialization(instance, dg.AssetKey("rebuilt_archive"))
    value = event.metadata.get(MIRROR_PACKS) if event else None
    return value is None or value.value != packs_digest(packs)


def report_corrected_packs(instance: dg.DagsterInstance, packs, path_of) -> None:
    """Record that `drum-pipeline correct` rewrote the index partitions of `packs` (at `path_of(pack)`):
    a materialization of each with its last one's code and input versions and fingerprint, so the
    catalog matches the files and the pack is not classified again for it."""
    for pack in packs:
        last = latest_materialization(instance, archive_index.key, pack)
        kept = {key: value for key, value in ((last.tags or {}) if last else {}).items()
                if key == CODE_VERSION_TAG or key.startswith(INPUT_VERSION_TAG)}
        metadata = {**(last.metadata if last else {}), "path": dg.MetadataValue.path(str(path_of(pack))),
                    "corrected_by_hand": True}
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key=archive_index.key, partition=pack, metadata=metadata, tags=kept))


def partition_spans(order: list[str], wanted, max_per_run: int) -> list[list[str]]:
    """Runs covering the `wanted` keys of `order` (the partitions' order): each a span of at most
    `max_per_run` consecutive keys, from a wanted key to a wanted key. Keys in between that were
    not wanted are classified again too (cheap: their hashes and features are cached)."""
    wanted = set(wanted)
    positions = [i for i, key in enumerate(order) if key in wanted]
    spans = []
    while positions:
        inside = [p for p in positions if p < positions[0] + max_per_run]
        spans.append(order[inside[0] : inside[-1] + 1])
        positions = positions[len(inside):]
    return spans


def range_tags(start: str, end: str) -> dict[str, str]:
    """The run tags of a run over the partitions `start` to `end`."""
    return {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}
