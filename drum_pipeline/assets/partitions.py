"""The archive's packs (its top-level folders): one partition of the archive index each."""

import dagster as dg

archive_packs = dg.DynamicPartitionsDefinition(name="archive_packs")
