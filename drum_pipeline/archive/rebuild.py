"""The rebuilt archive: a sorted mirror at `rebuilt/<label>/<pack>/<path in pack>`, made from the
archive index alone (no models, no audio), by symlink, hard link or copy. Originals are only read.

Idempotent: a manifest (`rebuilt/.drum-pipeline-manifest.json`) lists every entry the pipeline
made; a second run changes nothing, a reclassification moves only what changed, and only
entries in the manifest are ever replaced or removed. The manifest is written ahead of the
changes, so a run stopped half-way (disk full, permissions, a kill) leaves a tree the next run
finishes.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from drum_pipeline.archive.corrections import CORRECTION_SOURCE, apply_corrections
from drum_pipeline.archive.index import ROOT_PACK
from drum_pipeline.config.layout import write_atomic
from drum_pipeline.config.settings import LINK_MODES
from drum_pipeline.models.rejection import SortingRules, sorted_label

MANIFEST_NAME = ".drum-pipeline-manifest.json"
LOCK_NAME = ".drum-pipeline.lock"
LEDGER_COLUMNS = ["path", "pack", "sha256", "status", "label", "fine_label", "confidence", "target",
                  "duplicate_of", "reason", "error", "label_source"]


class RebuildError(RuntimeError):
    """The mirror could not be finished (disk full, permissions); the message says what to do."""


@dataclass(frozen=True)
class Entry:
    target: str  # POSIX, relative to the rebuilt root
    source: str  # absolute path of the original
    sha256: str


def plan(index: pd.DataFrame, archive_root: Path, rules: SortingRules = SortingRules()
         ) -> tuple[list[Entry], pd.DataFrame]:
    """The mirror's entries and the ledger: one row per archive file, placed (with its target),
    duplicate (of an earlier file, in this pack or an earlier one), skipped (a hidden file) or error."""
    archive_root = Path(archive_root).absolute()
    placed_by_hash: dict[str, str] = {}
    taken: set[str] = set()
    entries, ledger = [], []
    for row in index.sort_values(["pack", "path"]).itertuples(index=False):
        record = {"path": row.path, "pack": row.pack, "sha256": row.sha256, "label": "", "fine_label": "",
                  "confidence": None, "target": "", "duplicate_of": row.duplicate_of or "", "reason": "",
                  "error": row.error or "", "label_source": ""}
        if row.status in ("error", "skipped"):
            ledger.append({**record, "status": row.status, "reason": getattr(row, "reason", "") or ""})
            continue
        if row.status == "duplicate" or row.sha256 in placed_by_hash:
            ledger.append({**record, "status": "duplicate",
                           "duplicate_of": row.duplicate_of or placed_by_hash[row.sha256]})
            continue
        if getattr(row, "label_source", "") == CORRECTION_SOURCE:  # corrected to non_drum: the reason says so
            label, fine, reason, source = row.label, row.fine_label, row.reason or "", CORRECTION_SOURCE
        else:
            label, fine, reason, source = sorted_label(row, rules)
        target = _free_target(_target(label, row.pack, row.path), taken)
        taken.add(target.lower())
        placed_by_hash[row.sha256] = row.path
        entries.append(Entry(target, str(archive_root / row.path), row.sha256))
        ledger.append({**record, "status": "placed", "label": label, "fine_label": fine,
                       "confidence": row.confidence, "target": target, "reason": reason, "label_source": source})
    return entries, pd.DataFrame(ledger, columns=LEDGER_COLUMNS)


def rebuild_from_index(index: pd.DataFrame, packs: set[str], archive_root: Path, rebuilt_dir: Path,
                       rules: SortingRules, mode: str, corrections: pd.DataFrame, dry_run: bool = False
                       ) -> tuple[pd.DataFrame, dict[str, int] | None]:
    """Plan the mirror from the index rows of `packs`, with the user's `corrections` (they override
    the models, no decoding), and, unless `dry_run`, make it under `rebuilt_dir`. Returns (the
    ledger, the counts or None)."""
    if len(index):
        index = apply_corrections(index[index["pack"].isin(packs)], corrections)
    entries, ledger = plan(index, archive_root, rules)
    if dry_run:
        return ledger, None
    return ledger, apply(entries, rebuilt_dir, mode)


def _target(label: str, pack: str, path: str) -> str:
    parts = PurePosixPath(path).parts
    inside = parts if pack == ROOT_PACK else parts[1:]
    safe = [part if part not in ("", ".", "..") else f"_{part}_" for part in inside]
    return str(PurePosixPath(label, pack, *safe))


def _free_target(target: str, taken: set[str]) -> str:
    """`target`, or `name (2).wav`, `name (3).wav`, ... when another entry has it (ignoring case)."""
    path = PurePosixPath(target)
    candidate, n = target, 1
    while candidate.lower() in taken:
        n += 1
        candidate = str(path.with_name(f"{path.stem} ({n}){path.suffix}"))
    return candidate


def _read_manifest(root: Path) -> dict[str, dict]:
    path = root / MANIFEST_NAME
    return json.loads(path.read_text()) if path.exists() else {}


def _write_manifest(root: Path, manifest: dict[str, dict]) -> None:
    write_atomic(root / MANIFEST_NAME, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=1, sort_keys=True)))


def _is_current(target: Path, entry: Entry, made: dict | None, mode: str) -> bool:
    if not made or made.get("source") != entry.source or made.get("mode") != mode or made.get("sha256") != entry.sha256:
        return False
    try:
        if mode == "symlink":
            return os.readlink(target) == entry.source
        if mode == "hardlink":
            return os.stat(target).st_ino == os.stat(entry.source).st_ino
        return target.is_file() and not target.is_symlink()
    except OSError:
        return False


def _make(target: Path, source: str, mode: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.drum-tmp")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    if mode == "symlink":
        os.symlink(source, tmp)
    elif mode == "hardlink":
        os.link(source, tmp)
    else:
        shutil.copy2(source, tmp)
    os.replace(tmp, target)


def apply(entries: list[Entry], rebuilt_root: Path, mode: str = "symlink") -> dict[str, int]:
    """Make the mirror match `entries`; returns counts of created, unchanged, removed and blocked
    entries (blocked: a file the pipeline did not make sits where an entry should go)."""
    if mode not in LINK_MODES:
        raise ValueError(f"unknown link mode {mode!r}: choose one of {', '.join(LINK_MODES)}")
    root = Path(rebuilt_root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_NAME, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a sensor's run and a manual one take turns
        return _apply_locked(entries, root, mode)


def _apply_locked(entries: list[Entry], root: Path, mode: str) -> dict[str, int]:
    manifest = _read_manifest(root)
    wanted = {e.target: e for e in entries}
    counts = {"created": 0, "unchanged": 0, "removed": 0, "blocked": 0}
    ahead = {**manifest, **{e.target: {"source": e.source, "mode": mode, "sha256": e.sha256} for e in entries}}
    try:
        _write_manifest(root, ahead)
        for target in sorted(set(manifest) - set(wanted)):
            path = root / target
            if os.path.lexists(path) and not path.is_dir():
                os.unlink(path)
                counts["removed"] += 1
            _prune_empty(path.parent, root)
        made = {}
        for entry in entries:
            path = root / entry.target
            if _is_current(path, entry, manifest.get(entry.target), mode):
                counts["unchanged"] += 1
            elif os.path.lexists(path) and entry.target not in manifest:
                counts["blocked"] += 1
                continue
            else:
                _make(path, entry.source, mode)
                counts["created"] += 1
            made[entry.target] = ahead[entry.target]
        _write_manifest(root, made)
    except OSError as exc:
        raise RebuildError(_explain(exc, root)) from exc
    return counts


def _explain(exc: OSError, root: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return f"the disk holding {root} is full: free some space, or use --mode symlink, then run again"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write in {root}: {exc.filename or exc}; fix the permissions and run again"
    if exc.errno == errno.EXDEV:
        return f"hard links cannot cross file systems ({root} and the archive): use symlink or copy"
    return f"could not rebuild {root}: {exc}; the next run finishes the job"


def _prune_empty(folder: Path, root: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def planned_changes(ledger: pd.DataFrame, archive_root: Path, rebuilt_root: Path, mode: str) -> pd.DataFrame:
    """What a rebuild with `ledger` would change, by the manifest: entries to create (new, or
    pointing at another file or made another way) and entries to remove. Unchanged ones are left out."""
    manifest = _read_manifest(Path(rebuilt_root))
    archive_root = Path(archive_root).absolute()
    rows, wanted = [], set()
    for row in ledger[ledger["status"] == "placed"].itertuples(index=False):
        wanted.add(row.target)
        made = manifest.get(row.target) or {}
        if (made.get("source"), made.get("mode"), made.get("sha256")) != (str(archive_root / row.path), mode, row.sha256):
            rows.append({"change": "create", "target": row.target, "path": row.path})
    rows += [{"change": "remove", "target": target, "path": ""} for target in sorted(set(manifest) - wanted)]
    return pd.DataFrame(rows, columns=["change", "target", "path"])
