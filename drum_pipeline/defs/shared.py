"""What several asset modules share: the archive's pack partitions and the automation condition."""

import dagster as dg

# The archive's packs (its top-level folders): one partition of the archive index each.
archive_packs = dg.DynamicPartitionsDefinition(name="archive_packs")

# Rematerialize when an upstream asset has new data, when missing, or when the code changed.
AUTOMATION = dg.AutomationCondition.eager() | dg.AutomationCondition.code_version_changed()
