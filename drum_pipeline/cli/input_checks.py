"""The input checks of `drum-pipeline run` and `validate`: folders that exist and hold audio, a
taxonomy that loads, and a library with labelled drums (by name only, no audio read)."""

from __future__ import annotations

from collections.abc import Collection

from drum_pipeline.audio.folders import has_audio, scan_audio_files
from drum_pipeline.labels.names import decide_label
from drum_pipeline.labels.taxonomy import TaxonomyError, load_taxonomy
from drum_pipeline.words import counted

INPUT_FOLDERS = ("library", "archive")


def missing_folder(settings, name: str, by_flag: bool) -> str:
    """Why the input folder `name` (library or archive) cannot be used when it does not exist, with
    the fix: the flag that named it (`by_flag`), else its variable; '' when it exists."""
    folder = getattr(settings, f"{name}_dir")
    if folder.is_dir():
        return ""
    if by_flag:
        fix = f"check --{name}"
    elif getattr(settings, f"{name}_is_default"):
        fix = "run `drum-pipeline run` (it synthesizes the demo)"
    else:
        fix = f"check DRUM_{name.upper()}_DIR"
    return f"{name} folder {folder} does not exist: {fix}"


def input_problems(settings, flags: Collection[str] = ()) -> list[str]:
    """One line per problem that would make a run fail, each with its fix; [] when all is well.
    `flags`: the input folders named by a command-line flag."""
    problems = []
    for name in INPUT_FOLDERS:
        folder = getattr(settings, f"{name}_dir")
        if missing := missing_folder(settings, name, name in flags):
            problems.append(missing)
        elif not has_audio(folder):
            problems.append(f"{name} folder {folder} holds no audio files: put samples there or name another folder")
    try:
        taxonomy = load_taxonomy(settings.taxonomy_path)
    except TaxonomyError as exc:
        return [*problems, f"{exc}: fix that line, or unset DRUM_TAXONOMY to use the packaged taxonomy"]
    if has_audio(settings.library_dir):
        files = scan_audio_files(settings.library_dir)
        if not any(decide_label(taxonomy, f.relpath).status == "labelled" for f in files):
            problems.append(f"library folder {settings.library_dir}: none of its {counted(len(files), 'audio file')} "
                            "is named as a drum (e.g. 'Kicks/Kick 01.wav'): the models learn from those names")
    return problems
