"""The user's corrections: a label given by hand to an archive file, kept in a plain CSV
(`DRUM_OUTPUT_DIR/corrections.csv`) keyed by content hash, so a renamed or moved file keeps it.

A correction overrides the models in the index and the rebuilt mirror at once (no decoding, no
retraining), and joins the next retrain's training data, grouped by its archive pack.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from drum_pipeline.config.layout import write_atomic
from drum_pipeline.labels.taxonomy import Taxonomy
from drum_pipeline.models.rejection import UNSORTED

# sha256 decides; path and pack say where the file was when corrected; model_label is what the
# deployed models said then (the "before" of the evaluation's table of corrected files)
CORRECTION_COLUMNS = ["sha256", "label", "fine_label", "path", "pack", "model_label"]
CORRECTION_SOURCE = "correction"
# Corrections that say "no drum one-shot": the file is unsorted in the index and the mirror, and no training drum.
UNSORTED_LABELS = ("non_drum", UNSORTED)


class CorrectionError(ValueError):
    """A correction that cannot be recorded; the message is one line and says why."""


def read_corrections(path: Path) -> pd.DataFrame:
    """The usable lines of the corrections file (empty when there is none); the last line of a
    content hash wins. Malformed lines are skipped (corrections_problems names them)."""
    return _latest(_parse(path)[0])


def corrections_problems(path: Path, taxonomy: Taxonomy) -> list[str]:
    """One line per unusable line of a corrections file edited by hand (malformed, or an unknown label)."""
    if not Path(path).exists():
        return []
    try:
        table, malformed = _parse(path)
    except CorrectionError as exc:
        return [str(exc)]
    problems = {line: why for line, _, why in malformed}
    for line, label in zip(table["line"], table["label"], strict=True):
        try:
            resolve_label(taxonomy, label)
        except CorrectionError as exc:
            problems[line] = str(exc)
    return [f"{path}, line {line}: {why}" for line, why in sorted(problems.items())]


def _parse(path: Path) -> tuple[pd.DataFrame, list[tuple[int, bytes, str]]]:
    """Every usable line of a corrections file (CORRECTION_COLUMNS and its number, `line`), and the
    malformed ones as (number, bytes, why). Each line is parsed on its own, so a broken quote
    spoils its line only; CorrectionError when the header lacks sha256 or label."""
    path = Path(path)
    rows, malformed, header = [], [], None
    raw_lines = path.read_bytes().splitlines() if path.exists() else []
    for number, raw in enumerate(raw_lines, start=1):
        try:
            text = raw.decode("utf-8").removeprefix("\ufeff")  # a spreadsheet's byte order mark
            fields = next(csv.reader([text], strict=True), [])
        except UnicodeDecodeError:
            malformed.append((number, raw, "not UTF-8 text"))
            continue
        except csv.Error as exc:
            if header is None:
                raise CorrectionError(f"{path}, line {number}: the header is not CSV ({exc})") from None
            malformed.append((number, raw, f"broken quotes ({exc})"))
            continue
        if header is not None and len(fields) > len(header):
            malformed.append((number, raw, f"expected {len(header)} fields, saw {len(fields)}"))
        elif not any(field.strip() for field in fields):
            continue  # blank, or a spreadsheet's empty row
        elif header is None:
            header = fields
            missing = [column for column in CORRECTION_COLUMNS[:2] if column not in header]
            if missing:
                raise CorrectionError(f"{path}: the column(s) {', '.join(missing)} are missing")
        else:
            row = dict(zip(header, fields + [""] * (len(header) - len(fields)), strict=True))
            if row["sha256"]:
                rows.append({**{column: row.get(column, "") for column in CORRECTION_COLUMNS}, "line": number})
            else:
                malformed.append((number, raw, "no sha256: the line names no file"))
    return pd.DataFrame(rows, columns=[*CORRECTION_COLUMNS, "line"]), malformed


def _latest(table: pd.DataFrame) -> pd.DataFrame:
    """The last line of each content hash, without line numbers."""
    return table.drop(columns="line").drop_duplicates("sha256", keep="last").reset_index(drop=True)


def write_corrections(path: Path, table: pd.DataFrame, malformed: Iterable[bytes] = ()) -> None:
    """The corrections as CSV; the `malformed` lines of a hand-edited file are kept at its end as
    they were, for the user to mend (they stay skipped meanwhile)."""
    def write(tmp):
        table[CORRECTION_COLUMNS].to_csv(tmp, index=False)
        with open(tmp, "ab") as out:
            out.writelines(line + b"\n" for line in malformed)

    write_atomic(Path(path), write)


def _word(label: str) -> str:
    return label.strip().lower().replace(" ", "_")  # "ride bell" is the fine label ride_bell


def resolve_label(taxonomy: Taxonomy, label: str) -> tuple[str, str]:
    """(label, fine label) as the corrections file keeps them: a canonical class, the class of a
    fine label, or one of UNSORTED_LABELS (no fine label); CorrectionError when none."""
    word = _word(label)
    if word in taxonomy.classes:
        return word, word if word in taxonomy.fine_to_class else ""
    if word in taxonomy.fine_to_class:
        return taxonomy.fine_to_class[word], word
    if word in UNSORTED_LABELS:
        return word, ""
    raise CorrectionError(f"unknown label {label!r}: give a class ({', '.join(taxonomy.classes)}), "
                          f"a fine label of the taxonomy, {' or '.join(UNSORTED_LABELS)}")


def is_unsorted_label(label: str) -> bool:
    """Whether a correction's label says the file is no drum one-shot (non_drum, unsorted)."""
    return _word(label) in UNSORTED_LABELS


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


def mirror_original(given: str, archive_root: Path, rebuilt_root: Path, ledger_path: Path) -> str | None:
    """The original archive file (absolute) that an entry of the rebuilt mirror stands for, or None
    when `given` is not in the mirror: a symlink's target, else (a hard link or a copy) the
    ledger's archive path of that target. CorrectionError when the ledger does not list it."""
    root = Path(rebuilt_root).resolve()
    path = Path(given).expanduser().absolute()
    path = path.parent.resolve() / path.name  # the mirror's folders are real ones; only the entry is a link
    if not path.is_relative_to(root) or path == root:
        return None
    if path.is_symlink():
        return str(path.parent / os.readlink(path))  # an absolute target stays as it is
    target = path.relative_to(root).as_posix()
    columns = ["path", "status", "target"]
    ledger = pd.read_parquet(ledger_path, columns=columns) if Path(ledger_path).exists() else pd.DataFrame(columns=columns)
    rows = ledger[(ledger["status"] == "placed") & (ledger["target"] == target)]
    if rows.empty:
        raise CorrectionError(f"{given}: not an entry of the rebuilt mirror {root} (run `drum-pipeline rebuild`, "
                              "or give the file's path in the archive)")
    return str(Path(archive_root).absolute() / rows.iloc[0]["path"])


def add_correction(corrections_path: Path, index: pd.DataFrame, archive_root: Path, taxonomy: Taxonomy,
                   given_path: str, label: str, rebuilt_root: Path | None = None,
                   ledger_path: Path | None = None) -> dict:
    """Record `label` for the archive file at `given_path` (or, with `rebuilt_root` and its ledger,
    the original of an entry of the mirror); returns the correction. Nothing is written when the
    label is unknown, the path is outside the archive or not in the index."""
    label, fine = resolve_label(taxonomy, label)
    original = mirror_original(given_path, archive_root, rebuilt_root, ledger_path) if rebuilt_root else None
    relpath = archive_relpath(archive_root, original or given_path)
    rows = index[index["path"] == relpath] if len(index) else index
    if rows.empty:
        raise CorrectionError(f"{relpath}: not in the archive index (run the pipeline first, or check the path)")
    row = rows.iloc[0]
    if not row["sha256"] or row["status"] not in ("ok", "duplicate"):
        raise CorrectionError(f"{relpath}: status {row['status']} in the index: only classified files can be corrected")
    correction = {"sha256": row["sha256"], "label": label, "fine_label": fine, "path": relpath,
                  "pack": row["pack"], "model_label": row["predicted_label"] or ""}
    table, malformed = _parse(corrections_path)
    table = _latest(table)
    table = pd.concat([table[table["sha256"] != row["sha256"]], pd.DataFrame([correction])], ignore_index=True)
    write_corrections(corrections_path, table, [line for _, line, _ in malformed])
    return correction


def restore_correction(corrections_path: Path, sha256: str, previous: dict | None) -> None:
    """Undo a correction of `sha256`: its line becomes `previous` (the correction that was there
    before, CORRECTION_COLUMNS), or goes when there was none; other lines, malformed ones too, stay."""
    table, malformed = _parse(corrections_path)
    table = _latest(table)
    table = table[table["sha256"] != sha256]
    if previous is not None:
        table = pd.concat([table, pd.DataFrame([previous])[CORRECTION_COLUMNS]], ignore_index=True)
    write_corrections(corrections_path, table, [line for _, line, _ in malformed])


def restore_rows(partition: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """`partition` (an index partition) with its rows of the paths in `rows` put back as `rows` hold
    them (as they were before a correction), in their places; the other rows as they are."""
    hit = partition["path"].isin(rows["path"])
    back = rows.loc[rows["path"].isin(partition["path"]), partition.columns]
    merged = pd.concat([partition[~hit], back]).set_index("path").loc[partition["path"]].reset_index()
    return merged[partition.columns].reset_index(drop=True)


def apply_corrections(index: pd.DataFrame, corrections: pd.DataFrame) -> pd.DataFrame:
    """The index with corrected files' label and fine label set by hand and `label_source`
    `correction` (elsewhere `name` or `sound`, as classified); the models' own columns are kept. A file corrected to
    non_drum or unsorted is `unsorted`, with that as its reason."""
    index = index.copy()
    if "label_source" not in index.columns:  # an index made before names counted
        index["label_source"] = "sound"
    if index.empty or corrections.empty:
        return index
    by_hash = corrections.set_index("sha256")
    hit = index["sha256"].isin(by_hash.index) & index["status"].isin(["ok", "duplicate"])
    given = index.loc[hit, "sha256"].map(by_hash["label"])
    unsorted = given.map(is_unsorted_label)
    index.loc[hit, "label"] = given.where(~unsorted, UNSORTED).to_numpy()
    index.loc[hit, "fine_label"] = index.loc[hit, "sha256"].map(by_hash["fine_label"]).where(~unsorted, "").to_numpy()
    index.loc[hit, "reason"] = ("corrected by hand: " + given).where(unsorted, "").to_numpy()
    index.loc[hit, "label_source"] = CORRECTION_SOURCE
    return index


def corrected_training_rows(corrections: pd.DataFrame, archive_root: Path) -> pd.DataFrame:
    """The archive files corrected to a drum class that are still where they were corrected, as
    labelled training material (label_extraction's columns, with absolute paths, source
    `correction` and the archive pack as group). Files corrected to non_drum or unsorted are no
    training drums."""
    columns = ["path", "sha256", "fine_label", "label", "status", "rule", "source", "group"]
    rows = []
    for c in corrections.drop_duplicates("sha256", keep="last").itertuples(index=False):
        path = Path(archive_root).absolute() / c.path
        if c.path and path.is_file() and not is_unsorted_label(c.label):
            rows.append({"path": str(path), "sha256": c.sha256, "fine_label": c.fine_label or c.label,
                         "label": c.label, "status": "labelled", "rule": "corrected by hand",
                         "source": CORRECTION_SOURCE, "group": f"archive/{c.pack}"})
    return pd.DataFrame(rows, columns=columns)
