"""What is missing or stale, the way the UI shows it: the Dagster side of an incremental
`drum-pipeline run` and of the pack sensor.

A pack is classified again when its folder's fingerprint differs from the one its last
archive_index materialization recorded, or when anything upstream other than the archive
folder (the models, the features, the code) is stale: the archive's own data version changes
with any pack, so it cannot say which pack changed.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._time import get_current_datetime

from drum_pipeline.defs.archive.assets import PACK_FINGERPRINT, archive_index
from drum_pipeline.defs.inputs.assets import sample_archive


def stale_resolver(defs: dg.Definitions, instance: dg.DagsterInstance) -> CachingStaleStatusResolver:
    """Dagster's own stale-status resolver (the UI's "stale" and "missing"; not public API in 1.13)."""
    graph = defs.resolve_asset_graph()
    view = AssetGraphView(temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
                          instance=instance, asset_graph=graph)
    return CachingStaleStatusResolver(instance=instance, asset_graph=graph, loading_context=view)


def stale_assets(resolver: CachingStaleStatusResolver, keys) -> list[dg.AssetKey]:
    """The unpartitioned assets of `keys` that are missing or stale."""
    return [key for key in keys if resolver.get_status(key) in (StaleStatus.MISSING, StaleStatus.STALE)]


def recorded_fingerprint(instance: dg.DagsterInstance, pack: str) -> str | None:
    """The pack fingerprint the last archive_index materialization of `pack` recorded, if any."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=archive_index.key, asset_partitions=[pack]), limit=1).records
    if not records:
        return None
    value = records[0].asset_materialization.metadata.get(PACK_FINGERPRINT)
    return value.value if value is not None else None


def packs_to_classify(resolver: CachingStaleStatusResolver, instance: dg.DagsterInstance,
                      fingerprints: dict[str, str]) -> list[str]:
    """The packs of `fingerprints` (pack -> current fingerprint) never classified, changed since,
    or stale for a reason other than the archive folder."""
    def stale_upstream(pack: str) -> bool:
        return resolver.get_status(archive_index.key, pack) != StaleStatus.FRESH and any(
            cause.dependency is None or cause.dependency.asset_key != sample_archive.key
            for cause in resolver.get_stale_root_causes(archive_index.key, pack))

    stale = [pack for pack, version in fingerprints.items()
             if recorded_fingerprint(instance, pack) != version or stale_upstream(pack)]
    return stale


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
