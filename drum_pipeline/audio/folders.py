"""Audio files of a folder tree: discovery and a cheap fingerprint (stat only, no audio read)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".bwf", ".aif", ".aiff", ".aifc", ".flac", ".ogg", ".oga", ".mp3", ".opus"}
)

HIDDEN_REASON = "hidden file (name starts with a dot, like macOS '._' resource forks): not classified"


@dataclass(frozen=True)
class AudioFile:
    path: Path
    relpath: str  # POSIX, relative to the scanned root
    size: int  # -1 when the file could not be stat-ed (e.g. a dangling link)
    mtime_ns: int
    problem: str = ""  # why the file must not be read (a link leading out of the folder), or ""
    skipped: str = ""  # why the file is listed but not classified (a hidden file), or ""


def is_audio_name(name: str) -> bool:
    return Path(name).suffix.lower() in AUDIO_EXTENSIONS


def _entry(path: Path, relpath: str, boundary: Path) -> AudioFile:
    problem = ""
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
            if not target.is_relative_to(boundary):
                problem = "symbolic link leads outside the archive: not followed"
        except RuntimeError:
            problem = "symbolic link loop"
        except OSError:
            problem = "dangling symbolic link"
    try:
        st = path.stat() if not problem else path.lstat()
        size, mtime_ns = (st.st_size, st.st_mtime_ns) if not problem else (-1, st.st_mtime_ns)
    except OSError:
        size, mtime_ns = -1, 0
    return AudioFile(path, relpath, size, mtime_ns, problem)


def scan_audio_files(root: Path, boundary: Path | None = None, recursive: bool = True,
                     include_hidden: bool = False) -> list[AudioFile]:
    """Every audio file under `root` by extension (any case), sorted by relative path.

    Hidden files and folders (".DS_Store", macOS "._x.wav" resource forks, "..wav") are not
    audio and are skipped; with `include_hidden`, hidden files with an audio extension are
    listed with the reason in `skipped` (hidden folders are never entered). Folder links are not
    followed (no loops, no file seen twice); a file link is read only when it leads inside
    `boundary` (default: `root`), otherwise it is listed with its `problem`. A file that cannot
    be stat-ed is listed with size -1, so that a later stage reports it instead of losing it.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    boundary = Path(boundary or root).resolve()
    found: list[AudioFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        for name in filenames:
            if not is_audio_name(name) or (name.startswith(".") and not include_hidden):
                continue
            path = Path(dirpath) / name
            relpath = path.relative_to(root).as_posix()
            if name.startswith("."):
                found.append(AudioFile(path, relpath, -1, 0, skipped=HIDDEN_REASON))
            else:
                found.append(_entry(path, relpath, boundary))
    found.sort(key=lambda f: f.relpath)
    return found


def has_audio(root: Path) -> bool:
    """True as soon as one audio file is found (cheaper than a full scan)."""
    root = Path(root)
    if not root.is_dir():
        return False
    for _dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if any(not n.startswith(".") and is_audio_name(n) for n in filenames):
            return True
    return False


def fingerprint(files: Iterable[AudioFile]) -> str:
    """A digest of (relative path, size, mtime) of `files`: changes when one is added, touched or removed."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.relpath):
        digest.update(f"{f.relpath}\0{f.size}\0{f.mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:24]
