"""Reports from the archive index alone (no models, no audio): the review queue (the files most
worth a look) and the folder report (which folders the owner already sorted, and what is in the rest)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from drum_pipeline.models.mistakes import mistake_chance
from drum_pipeline.models.rejection import NON_DRUM, UNSORTED, SortingRules
from drum_pipeline.words import counted

NEAR_THRESHOLD = 0.1  # a confidence this close to the threshold could go either way
DOUBT_CHANCE = 0.25  # a file less likely wrong than this is no doubt
# Label extraction reads real names at about 0.998 precision (a real library of 585 files): a sort
# the name contradicts is likely wrong, and a sort by the name alone seldom is.
NAME_DISAGREES_CHANCE = 0.9
NAME_MISREAD_CHANCE = 0.002
# A name followed against a sound sure of another class: no truth says which is right more often
# (the corrections will); as likely as not, below the likely mistakes of the sound.
NAME_AGAINST_SOUND_CHANCE = 0.5
FIRST_LOOK = 50  # the queue's default view
PRESORTED_SHARE = 0.9  # a folder whose name and audio agree on this share of its files is pre-sorted
REVIEW_COLUMNS = ["rank", "path", "label", "label_source", "predicted_label", "confidence", "model1_label",
                  "model2_label", "name_label", "folder_label", "novelty", "chance", "why", "uri"]
FOLDER_COLUMNS = ["folder", "pack", "files", "name_claims", "audio_mix", "maker", "name_agrees", "state",
                  "suggested_label"]
FOLDER_STATES = ("pre-sorted", "one class", "unsorted", "mixed")


def review_queue(index: pd.DataFrame, archive_root: Path, rules: SortingRules = SortingRules(),
                 mistakes: dict | None = None) -> pd.DataFrame:
    """The doubtful classified files, the likeliest mistakes first (novel sounds, which teach
    most, first among equals).

    `chance` is the chance the sort is wrong. For a file sorted by its sound it is learned on the
    library's held-out split (models/mistakes.py; `mistakes` is that model, from the sorting
    thresholds), and at least NAME_DISAGREES_CHANCE when its name claims another class. A file
    sorted by its name has NAME_MISREAD_CHANCE, or NAME_AGAINST_SOUND_CHANCE when the sound is
    sure (rules.disagree_confidence) of another class. A file is doubtful at DOUBT_CHANCE or more,
    or when name and sound disagree; never when its name, its label and both models agree. `why`
    gives the chance and the signals behind it. Files already corrected, duplicates, errors and
    skipped files are left out."""
    if index.empty:
        return pd.DataFrame(columns=REVIEW_COLUMNS)
    rows = index[index["status"] == "ok"]
    if "label_source" in rows.columns:
        rows = rows[rows["label_source"] != "correction"]
    confidence = rows["confidence"].astype(float)
    claim = rows["name_label"] if "name_label" in rows.columns else rows["folder_label"]  # older indexes
    claim = claim.fillna("").where(claim != NON_DRUM, "")
    by_name = rows["label_source"] == "name" if "label_source" in rows.columns else pd.Series(False, rows.index)
    models_agree = (rows["model1_label"] == rows["predicted_label"]) & (rows["model2_label"] == rows["predicted_label"])
    name_disagrees = (claim != "") & (claim != rows["label"])
    against_sound = (by_name & (rows["predicted_label"] != rows["label"]) & (rows["label"] != UNSORTED)
                     & (confidence >= rules.disagree_confidence))
    chance = np.where(by_name, NAME_MISREAD_CHANCE, mistake_chance(mistakes, rows))
    chance = np.where(against_sound, NAME_AGAINST_SOUND_CHANCE, chance)
    chance = np.where(name_disagrees, np.maximum(chance, NAME_DISAGREES_CHANCE), chance)
    signals = {
        "models disagree": ~models_agree,
        "near the threshold": (confidence - rules.confidence_threshold).abs() <= NEAR_THRESHOLD,
        "novel": rows["novelty"].astype(float).fillna(0.0) > 1.0,
    }
    why = []
    for i, (position, row) in enumerate(zip(rows.index, rows.itertuples(index=False), strict=True)):
        reasons = [f"chance of a mistake {chance[i]:.2f}"]
        if against_sound.loc[position]:
            reasons.append(f"name says {row.label}, sound says {row.predicted_label} {row.confidence:.2f}")
        if name_disagrees.loc[position]:
            reasons.append(f"name says {claim.loc[position]}")
        reasons += [name for name, flag in signals.items() if flag.loc[position]]
        if row.reason:
            reasons.append(f"unsorted: {row.reason}")
        why.append(", ".join(reasons))
    agreed = (claim == rows["label"]) & (claim == rows["predicted_label"]) & models_agree
    doubtful = ((chance >= DOUBT_CHANCE) | name_disagrees | against_sound) & ~agreed
    root = Path(archive_root).absolute()
    queue = rows.assign(chance=chance.round(3), why=why, uri=[(root / p).as_uri() for p in rows["path"]],
                        name_label=claim, label_source=rows.get("label_source", "sound"))[doubtful]
    queue = queue.sort_values(["chance", "novelty", "path"], ascending=[False, False, True]).reset_index(drop=True)
    queue["rank"] = np.arange(1, len(queue) + 1)
    return queue[REVIEW_COLUMNS].round({"confidence": 3, "novelty": 2})


def review_summary_line(queue: pd.DataFrame, shown: int = FIRST_LOOK) -> str:
    """'50 files worth a look first (of 120 doubtful)'."""
    if len(queue) <= shown:
        return f"{counted(len(queue), 'doubtful file')} worth a look"
    return f"{shown} files worth a look first (of {len(queue)} doubtful)"


def folder_report(index: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Per folder holding classified files: what its name claims (the nearest folder name the
    taxonomy reads, as the index's folder_label), the mix of its files' labels (classes and
    `unsorted`, corrections included), the maker, the share of files where name and audio agree
    (NaN when the name claims nothing), its state and the suggested class; and a summary.

    States: `pre-sorted` (the name claims a class and at least PRESORTED_SHARE of the audio
    agrees), `one class` (no such name, but that share of the audio is one class), `unsorted`
    (that share is unsorted: no drum one-shots, or too doubtful), `mixed`. The suggested class
    is the claim of a pre-sorted folder, the class of a one-class folder, and empty for the
    others (sort a mixed one file by file)."""
    rows = index[index["status"].isin(["ok", "duplicate"])].copy() if len(index) else pd.DataFrame()
    if rows.empty:
        return pd.DataFrame(columns=FOLDER_COLUMNS), {"folders": 0, "files": 0, "presorted_files": 0,
                                                      "presorted_share": 0.0}
    rows["folder"] = [str(PurePosixPath(p).parent) for p in rows["path"]]
    report = []
    for folder, group in rows.groupby("folder", sort=True):
        mix = group["label"].value_counts()
        claim = _most_common(group["folder_label"])
        agrees = float((group["label"] == claim).mean()) if claim else np.nan
        top_share = float(mix.iloc[0] / len(group))
        if claim and agrees >= PRESORTED_SHARE:
            state, suggested = "pre-sorted", claim
        elif top_share >= PRESORTED_SHARE and mix.index[0] == UNSORTED:
            state, suggested = "unsorted", ""
        elif top_share >= PRESORTED_SHARE:
            state, suggested = "one class", str(mix.index[0])
        else:
            state, suggested = "mixed", ""
        report.append({"folder": folder, "pack": group["pack"].iloc[0], "files": len(group), "name_claims": claim,
                       "audio_mix": ", ".join(f"{label} {count}" for label, count in mix.items()),
                       "maker": _most_common(group["maker"]), "name_agrees": round(agrees, 3),
                       "state": state, "suggested_label": suggested})
    table = pd.DataFrame(report, columns=FOLDER_COLUMNS)
    presorted = int(table.loc[table["state"] == "pre-sorted", "files"].sum())
    summary = {"folders": len(table), "files": int(table["files"].sum()), "presorted_files": presorted,
               "presorted_share": round(presorted / max(int(table["files"].sum()), 1), 3),
               **{f"{state.replace(' ', '_').replace('-', '')}_folders": int((table["state"] == state).sum())
                  for state in FOLDER_STATES}}
    return table, summary


def _most_common(values: pd.Series) -> str:
    values = values.fillna("")
    values = values[values != ""]
    return str(values.value_counts().index[0]) if len(values) else ""


def folder_summary_line(summary: dict) -> str:
    """The folder report's summary in one sentence."""
    folders = {state: summary.get(f"{state}_folders", 0) for state in ("presorted", "one_class", "unsorted", "mixed")}
    return (f"{summary['presorted_files']} of {counted(summary['files'], 'classified file')} "
            f"({summary['presorted_share']:.0%}) sit in {counted(folders['presorted'], 'folder')} the owner already "
            f"sorted; {counted(folders['one_class'], 'more folder holds', 'more folders hold')} one class under a name "
            f"that does not say it, {counted(folders['unsorted'], 'is', 'are')} unsorted (no drum one-shots, or too "
            f"doubtful), {counted(folders['mixed'], 'is', 'are')} mixed")
