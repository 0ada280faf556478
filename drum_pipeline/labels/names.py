"""Labels from names: every library file gets a fine label, its canonical class and the rule
that decided, from its file name and the nearest folder whose name says something."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import pandas as pd

from drum_pipeline.audio.folders import AudioFile
from drum_pipeline.audio.hashing import HashCache
from drum_pipeline.labels.taxonomy import NameMatch, Taxonomy

LABEL_STATUSES = ("labelled", "ambiguous", "unlabelled", "non_drum")


@dataclass(frozen=True)
class LabelDecision:
    fine_label: str
    label: str
    status: str  # one of LABEL_STATUSES
    rule: str  # why, in words
    source: str  # what decided: "file", "folder", "file+folder" or ""


def nearest_folder(taxonomy: Taxonomy, relpath: str) -> tuple[str, NameMatch]:
    """The nearest folder of `relpath` whose name says something, and what it says."""
    for folder in reversed(PurePosixPath(relpath).parts[:-1]):
        found = taxonomy.match(folder)
        if found.status != "none":
            return folder, found
    return "", NameMatch("none")


def decide_label(taxonomy: Taxonomy, relpath: str) -> LabelDecision:
    """The label of the file at `relpath` (POSIX, relative to the library root); never a guess."""
    name = PurePosixPath(relpath).stem
    by_name = taxonomy.match(name)
    folder, by_folder = nearest_folder(taxonomy, relpath)

    for found, where in ((by_name, f"file name '{name}'"), (by_folder, f"folder '{folder}'")):
        if found.status == "non_drum":
            return LabelDecision("", "", "non_drum", f"{where}: {found.reason}", "")
    if by_name.status == "ambiguous":
        return LabelDecision("", "", "ambiguous", f"file name '{name}' {by_name.reason}", "")
    if by_name.status == "labelled":
        if by_folder.status != "labelled":
            return LabelDecision(by_name.fine_label, by_name.label, "labelled",
                                 f"file name '{name}' says {by_name.reason}", "file")
        if not taxonomy.folder_may_hold_class(by_folder.label, by_name.label):
            return LabelDecision("", "", "ambiguous", f"folder '{folder}' says {by_folder.label} but file name "
                                 f"'{name}' says {by_name.label}", "")
        fine = by_name.fine_label
        if fine == by_name.label and by_folder.label == by_name.label:  # "Floor Tom/Tom 3": the folder is finer
            fine = by_folder.fine_label
        return LabelDecision(fine, taxonomy.fine_to_class[fine], "labelled",
                             f"file name '{name}' says {by_name.reason}, folder '{folder}' agrees", "file+folder")
    if by_folder.status == "labelled":
        return LabelDecision(by_folder.fine_label, by_folder.label, "labelled",
                             f"folder '{folder}' says {by_folder.reason}", "folder")
    if by_folder.status == "ambiguous":
        return LabelDecision("", "", "ambiguous", f"folder '{folder}' {by_folder.reason}", "")
    return LabelDecision("", "", "unlabelled", f"no drum word in '{name}' or its folders", "")


def name_claim(taxonomy: Taxonomy, relpath: str) -> dict[str, str]:
    """What an archive file's own name and folders claim, read as the library's are (decide_label):
    `name_label` (a class, `non_drum`, or '' when they say nothing certain), `name_fine_label`
    and `name_rule`. Non-drum words count in the file name and its own folder only: a pack named
    "Bass House Kit" says nothing of the one-shots in its subfolders."""
    path = PurePosixPath(relpath)
    by_name = taxonomy.match(path.stem)
    by_parent = taxonomy.match(path.parent.name) if len(path.parts) > 1 else NameMatch("none")
    for found, where in ((by_name, f"file name '{path.stem}'"), (by_parent, f"folder '{path.parent.name}'")):
        if found.status == "non_drum":
            return {"name_label": "non_drum", "name_fine_label": "", "name_rule": f"{where}: {found.reason}"}
    decision = decide_label(taxonomy, relpath)
    if decision.status == "labelled":
        return {"name_label": decision.label, "name_fine_label": decision.fine_label, "name_rule": decision.rule}
    if decision.status == "non_drum" and by_name.status == "labelled":  # a non-drum word farther up
        return {"name_label": by_name.label, "name_fine_label": by_name.fine_label,
                "name_rule": f"file name '{path.stem}' says {by_name.reason}"}
    return {"name_label": "", "name_fine_label": "", "name_rule": ""}


def extract_labels(files: list[AudioFile], taxonomy: Taxonomy, hashes: HashCache) -> pd.DataFrame:
    """The label_extraction table: path, sha256, fine_label, label, rule, status, source.

    A file that cannot be read keeps its row, with an empty sha256 and the error in `error`.
    """
    rows = []
    readable = [f for f in files if not f.problem]
    digests = dict(zip((f.relpath for f in readable), hashes.sha256_many([f.path for f in readable]), strict=True))
    for f in files:
        decision = decide_label(taxonomy, f.relpath)
        digest = digests.get(f.relpath, OSError(f.problem))
        digest, error = (digest, "") if isinstance(digest, str) else ("", f"cannot read: {digest.strerror or digest}")
        rows.append({"path": f.relpath, "sha256": digest, "fine_label": decision.fine_label,
                     "label": decision.label, "rule": decision.rule, "status": decision.status,
                     "source": decision.source, "error": error})
    columns = ["path", "sha256", "fine_label", "label", "rule", "status", "source", "error"]
    return pd.DataFrame(rows, columns=columns)
