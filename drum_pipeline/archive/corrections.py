"""The user's corrections: a label given by hand to an archive file, kept in a plain CSV
(`DRUM_OUTPUT_DIR/corrections.csv`) keyed by content hash, so a renamed or moved file keeps it.

A correction overrides the models in the index and the rebuilt mirror at once (no decoding, no
retraining), and joins the next retrain's training data, grouped by its archive pack.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from drum_pipeline.config.layout import write_atomic
from drum_pipeline.labels.taxonomy import Taxonomy

# sha256 decides; path and pack say where the file was when corrected; model_label is what the
# deployed models said then (the "before" of the evaluation's table of corrected files)
CORRECTION_COLUMNS = ["sha256", "label", "fine_label", "path", "pack", "model_label"]
CORRECTION_SOURCE = "correction"


class CorrectionError(ValueError):
    """A correction that cannot be recorded; the message is one line and says why."""


def read_corrections(path: Path) -> pd.DataFrame:
    """The corrections file (empty when there is none); the last line of a content hash wins."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=CORRECTION_COLUMNS)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = sorted(set(CORRECTION_COLUMNS[:2]) - set(table.columns))
    if missing:
        raise CorrectionError(f"{path}: the column(s) {', '.join(missing)} are missing")
    table = table.reindex(columns=CORRECTION_COLUMNS, fill_value="")
    return table[table["sha256"] != ""].drop_duplicates("sha256", keep="last").reset_index(drop=True)


def corrections_problems(path: Path, taxonomy: Taxonomy) -> list[str]:
    """One line per unusable line of a corrections file edited by hand (an unknown label)."""
    problems = []
    table = pd.read_csv(path, dtype=str, keep_default_na=False) if Path(path).exists() else pd.DataFrame()
    for line, label in enumerate(table.get("label", []), start=2):
        try:
            resolve_label(taxonomy, label)
        except CorrectionError as exc:
            problems.append(f"{path}, line {line}: {exc}")
    return problems


def write_corrections(path: Path, table: pd.DataFrame) -> None:
    write_atomic(Path(path), lambda tmp: table[CORRECTION_COLUMNS].to_csv(tmp, index=False))


def resolve_label(taxonomy: Taxonomy, label: str) -> tuple[str, str]:
    """(class, fine label) of a canonical class or a fine label; CorrectionError when neither."""
    word = label.strip().lower().replace(" ", "_")  # "ride bell" is the fine label ride_bell
    if word in taxonomy.classes:
        return word, word if word in taxonomy.fine_to_class else ""
    if word in taxonomy.fine_to_class:
        return taxonomy.fine_to_class[word], word
    raise CorrectionError(f"unknown label {label!r}: give a class ({', '.join(taxonomy.classes)}) "
                          "or a fine label of the taxonomy")


def archive_relpath(archive_root: Path, given: str) -> str:
    """`given` (absolute, relative to the working folder, or relative to the archive) as a POSIX
    path relative to the archive; CorrectionError when it lies outside."""
    root = Path(archive_root).absolute()
    path = Path(given).expanduser()
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, root / path]
    for candidate in candidates:
        candidate = Path(*_normalise(candidate.parts))
        if candidate.is_relative_to(root) and candidate != root:
            return candidate.relative_to(root).as_posix()
    raise CorrectionError(f"{given}: not inside the archive {root}")


def _normalise(parts: tuple[str, ...]) -> list[str]:
    """`..` and `.` removed without following links (the archive's own links stay inside it)."""
    out: list[str] = []
    for part in parts:
        if part == "..":
            if len(out) > 1:
                out.pop()
        elif part != ".":
            out.append(part)
    return out


def add_correction(corrections_path: Path, index: pd.DataFrame, archive_root: Path, taxonomy: Taxonomy,
                   given_path: str, label: str) -> dict:
    """Record `label` for the archive file at `given_path`; returns the correction. Nothing is
    written when the label is unknown, the path is outside the archive or not in the index."""
    label, fine = resolve_label(taxonomy, label)
    relpath = archive_relpath(archive_root, given_path)
    rows = index[index["path"] == relpath] if len(index) else index
    if rows.empty:
        raise CorrectionError(f"{relpath}: not in the archive index (run the pipeline first, or check the path)")
    row = rows.iloc[0]
    if not row["sha256"] or row["status"] not in ("ok", "duplicate"):
        raise CorrectionError(f"{relpath}: status {row['status']} in the index: only classified files can be corrected")
    correction = {"sha256": row["sha256"], "label": label, "fine_label": fine, "path": relpath,
                  "pack": row["pack"], "model_label": row["predicted_label"] or ""}
    table = read_corrections(corrections_path)
    table = pd.concat([table[table["sha256"] != row["sha256"]], pd.DataFrame([correction])], ignore_index=True)
    write_corrections(corrections_path, table)
    return correction


def apply_corrections(index: pd.DataFrame, corrections: pd.DataFrame) -> pd.DataFrame:
    """The index with corrected files' label and fine label set by hand and `label_source`
    `correction` (`model` elsewhere); the models' own columns are kept."""
    index = index.copy()
    if "label_source" not in index.columns:
        index["label_source"] = "model"
    if index.empty or corrections.empty:
        return index
    by_hash = corrections.set_index("sha256")
    hit = index["sha256"].isin(by_hash.index) & index["status"].isin(["ok", "duplicate"])
    hashes = index.loc[hit, "sha256"]
    index.loc[hit, "label"] = hashes.map(by_hash["label"]).to_numpy()
    index.loc[hit, "fine_label"] = hashes.map(by_hash["fine_label"]).to_numpy()
    index.loc[hit, "reason"] = ""
    index.loc[hit, "label_source"] = CORRECTION_SOURCE
    return index


def corrected_training_rows(corrections: pd.DataFrame, archive_root: Path) -> pd.DataFrame:
    """The corrected archive files that are still where they were corrected, as labelled training
    material (label_extraction's columns, with absolute paths, source `correction` and the archive
    pack as group)."""
    columns = ["path", "sha256", "fine_label", "label", "status", "rule", "source", "group"]
    rows = []
    for c in corrections.drop_duplicates("sha256", keep="last").itertuples(index=False):
        path = Path(archive_root).absolute() / c.path
        if c.path and path.is_file():
            rows.append({"path": str(path), "sha256": c.sha256, "fine_label": c.fine_label or c.label,
                         "label": c.label, "status": "labelled", "rule": "corrected by hand",
                         "source": CORRECTION_SOURCE, "group": f"archive/{c.pack}"})
    return pd.DataFrame(rows, columns=columns)
