"""What several asset modules share: the archive's pack partitions, the automation condition, and
what the archive's materializations record for freshness."""

import hashlib

import dagster as dg

# The archive's packs (its top-level folders): one partition of the archive index each.
archive_packs = dg.DynamicPartitionsDefinition(name="archive_packs")

# Rematerialize when an upstream asset has new data, when missing, or when the code changed.
AUTOMATION = dg.AutomationCondition.eager() | dg.AutomationCondition.code_version_changed()

# A pack's fingerprint (relative path, size, mtime of its files) when it was classified: the pack
# sensor and `drum-pipeline run` compare it with the folder's to know which packs changed.
PACK_FINGERPRINT = "pack_fingerprint"
MIRROR_PACKS = "packs_digest"  # the packs a rebuild of the mirror was made for


def packs_digest(packs) -> str:
    """A short digest of a set of pack names."""
    return hashlib.sha256("\n".join(sorted(packs)).encode()).hexdigest()[:16]
