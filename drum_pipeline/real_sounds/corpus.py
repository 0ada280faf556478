"""A labelled corpus of real drum one-shots and real non-drum sounds, rebuilt from Debian packages.

    python -m drum_pipeline.real_sounds.corpus build data/real_sounds/corpus    # the corpus, from the truth file
    python -m drum_pipeline.real_sounds.corpus truth                            # re-derive the truth file (review the diff)

The corpus is `<corpus>/<source>/<drums|non_drums>/.../<name>`: package files are copied as
they are, SoundFont samples written as 16-bit mono WAV. Every name carries its truth, so the
project's own label extraction (`labels.decide_label`) reads each drum as its class and each
non-drum as `non_drum`. The truth file (`bench/real_sounds_truth.csv`, reviewed and committed)
lists every corpus file with its origin and the sha256 of the written file; `build` writes
exactly those files, so the corpus is the same on every machine. No audio is committed.

Where the truth comes from:
- package files (lmms, sonic-pi, exadrums): their file names, read through the taxonomy;
- SoundFonts (fluid, opl3): the General MIDI percussion key(s) a drum-kit preset (bank 128)
  plays the sample on, read through the taxonomy, cross-checked with the sample's own name;
  samples of melodic presets (bank 0) are the non-drums, rendered as 1.5 s notes.
A sample or file the rules cannot label with confidence is left out, never guessed;
`TRUTH_OVERRIDES` holds the hand-reviewed exceptions.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import shutil
import subprocess
import sys
import wave
from collections import defaultdict
from dataclasses import asdict, dataclass, fields
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from drum_pipeline.labels.names import decide_label
from drum_pipeline.labels.taxonomy import Taxonomy, load_taxonomy
from drum_pipeline.real_sounds.soundfont import SAMPLE_TYPE_RIGHT, SAMPLE_TYPE_ROM, SampleHeader, SoundFont, read_soundfont

DEFAULT_TRUTH_PATH = Path(__file__).resolve().parents[2] / "bench" / "real_sounds_truth.csv"
DEFAULT_CACHE_DIR = Path("data/real_sounds/packages")

# Never used here: kept for an independent check on unseen kits (DESIGN.md, "Real audio for checks").
RESERVED_PACKAGES = frozenset({"hydrogen-drumkits", "hydrogen-drumkits-effects", "hydrogen-data",
                               "avldrums.lv2-soundfont"})

# General MIDI percussion key map (level 1), keys 35-81.
GM_PERCUSSION = {
    35: "Acoustic Bass Drum", 36: "Bass Drum 1", 37: "Side Stick", 38: "Acoustic Snare", 39: "Hand Clap",
    40: "Electric Snare", 41: "Low Floor Tom", 42: "Closed Hi-Hat", 43: "High Floor Tom", 44: "Pedal Hi-Hat",
    45: "Low Tom", 46: "Open Hi-Hat", 47: "Low-Mid Tom", 48: "Hi-Mid Tom", 49: "Crash Cymbal 1", 50: "High Tom",
    51: "Ride Cymbal 1", 52: "Chinese Cymbal", 53: "Ride Bell", 54: "Tambourine", 55: "Splash Cymbal",
    56: "Cowbell", 57: "Crash Cymbal 2", 58: "Vibraslap", 59: "Ride Cymbal 2", 60: "Hi Bongo", 61: "Low Bongo",
    62: "Mute Hi Conga", 63: "Open Hi Conga", 64: "Low Conga", 65: "High Timbale", 66: "Low Timbale",
    67: "High Agogo", 68: "Low Agogo", 69: "Cabasa", 70: "Maracas", 71: "Short Whistle", 72: "Long Whistle",
    73: "Short Guiro", 74: "Long Guiro", 75: "Claves", 76: "Hi Wood Block", 77: "Low Wood Block",
    78: "Mute Cuica", 79: "Open Cuica", 80: "Mute Triangle", 81: "Open Triangle",
}
# The taxonomy has no word for cuica (a friction drum: percussion); whistles are no drum at all.
GM_TRUTH_NAMES = {**GM_PERCUSSION, 78: "Mute Cuica percussion", 79: "Open Cuica percussion"}
GM_KEYS_LEFT_OUT = {71: "whistle", 72: "whistle"}
# Drum-kit presets whose keys do not follow the GM map.
KITS_LEFT_OUT = {48: "Orchestra kit: timpani on the tom and hi-hat keys", 56: "SFX kit: sound effects on the keys"}
# Melodic programs that are drums or tuned percussion themselves: neither drums nor non-drums here.
MELODIC_PROGRAMS_LEFT_OUT = {47: "Timpani", **{p: "percussive family" for p in range(112, 120)}}
MELODIC_PER_PRESET = 2
MELODIC_MAX = 200
NOTE_SECONDS = 1.5
NOTE_FADE_SECONDS = 0.3


@dataclass(frozen=True)
class Source:
    package: str
    kind: str  # "files" or "soundfont"
    root: str  # folder (files) or .sf2 file (soundfont) inside the package


SOURCES = {
    "lmms": Source("lmms-common", "files", "usr/share/lmms/samples"),
    "sonic-pi": Source("sonic-pi-samples", "files", "usr/share/sonic-pi/samples"),
    "exadrums": Source("exadrums", "files", "usr/share/exadrums"),
    "fluid": Source("fluid-soundfont-gm", "soundfont", "usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "opl3": Source("opl3-soundfont", "soundfont", "usr/share/sounds/sf2/OPL-3_FM_128M.sf2"),
}
# Left out on purpose: timgm6mb-soundfont (its drums are 20-200 ms looped snippets shaped by
# envelopes: the raw PCM is not the sound), musescore-general-soundfont-lossless (its GM kits
# are FluidR3's samples, PCM correlation 1.0; its marching kits follow no GM map), sf3 fonts.

# Package files: the folder (first part of the path under the source root) -> the non-drum word
# their corpus folder is named with; files of other folders are left out.
LMMS_DRUM_FOLDERS = {"drums"}
LMMS_NON_DRUM_FOLDERS = {"basses": "bass", "bassloops": "loop", "beats": "loop", "effects": "fx",
                         "instruments": "melodic", "latin": "melodic", "stringsnpads": "pad"}
LMMS_MISC_NON_DRUMS = {"applause01", "bass!", "breath01", "buzz!", "dong01", "dong02", "dong03",
                       "electric_ping01", "metalish_dong01", "raving_crowd01"}
SONIC_PI_DRUM_PREFIXES = ("bd_", "sn_", "drum_", "elec_", "perc_", "tabla_")
SONIC_PI_NON_DRUM_PREFIXES = {"ambi_": "ambience", "bass_": "bass", "guit_": "guitar", "loop_": "loop",
                              "vinyl_": "fx", "misc_": "fx", "mehackit_": "fx"}

# Hand-reviewed exceptions, (source, file stem or sample name) -> the name that carries the truth
# (read through the taxonomy), or None to leave the sound out. Each one was read and decided on
# its name, duration and spectrum; see bench/REAL_SOUNDS.md.
TRUTH_OVERRIDES: dict[tuple[str, str], str | None] = {
    # LMMS writes "bassdrum" as one word, which the taxonomy does not split.
    **{("lmms", f"bassdrum{n}"): "Bass Drum" for n in ("01", "02", "03", "04", "_acoustic01", "_acoustic02")},
    # "opened" is not a taxonomy word: the class is read right, the fine label (open hi-hat) is not.
    **{("lmms", f"hihat_opened0{n}"): "Open Hi-Hat" for n in (1, 2, 3)},
    ("lmms", "clav01"): "Claves",  # 0.09 s wooden clicks in the drums folder: claves, not a clavinet
    ("lmms", "clav02"): "Claves",
    ("lmms", "wood01"): "Wood Block",  # 0.08 s, centroid 1 kHz
    ("lmms", "nasty_bass01"): None,  # 0.16 s, centroid 2.8 kHz: not clearly a kick
    ("lmms", "zap01"): None, ("lmms", "zap02"): None, ("lmms", "zap03"): None,  # synth zaps: no class
    **{("sonic-pi", f"sn_{name}"): "Snare" for name in ("dolf", "dub", "generic", "zome")},  # "sn" is no alias
    ("sonic-pi", "drum_roll"): None,  # a 6 s roll, not a one-shot
    ("sonic-pi", "perc_bell"): None, ("sonic-pi", "perc_bell2"): None,  # 5-7 s pitched bells
    ("sonic-pi", "perc_door"): None, ("sonic-pi", "perc_till"): None,  # a door knock, a cash till
    ("sonic-pi", "perc_swash"): None, ("sonic-pi", "perc_swoosh"): None,  # whooshes
    # The brush kits play this brush slap on key 39 (Hand Clap); it is a snare hit, as its name says.
    ("fluid", "Brush Snr 2"): "Brush Snare",
}


@dataclass(frozen=True)
class CorpusEntry:
    """One corpus file and its truth: one row of the truth file."""

    source: str
    path: str  # POSIX, relative to the corpus root
    package: str  # Debian package and version
    origin: str  # file in the package, or "<sf2 file>#<sample index>"
    detail: str  # SoundFont sample name and keys or preset, or ""
    kind: str  # "drum" or "non_drum"
    fine_label: str
    label: str  # a canonical class, or "non_drum"
    sha256: str  # of the written file


class CorpusError(RuntimeError):
    """A corpus that cannot be built; the message says why in one line."""


# Packages


def fetch_package(name: str, cache_dir: Path) -> tuple[Path, str]:
    """Download (`apt-get download`) and unpack (`dpkg -x`) a Debian package once; its root and version."""
    if name in RESERVED_PACKAGES:
        raise CorpusError(f"{name} is reserved for the independent check and never used here")
    cache_dir = Path(cache_dir).resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    debs = sorted(cache_dir.glob(f"{name}_*.deb"))
    if not debs:
        for tool in ("apt-get", "dpkg"):
            if shutil.which(tool) is None:
                raise CorpusError(f"{tool} not found: the real-sound corpus needs a Debian-like system")
        done = subprocess.run(["apt-get", "download", name], cwd=cache_dir, capture_output=True, text=True, check=False)
        debs = sorted(cache_dir.glob(f"{name}_*.deb"))
        if done.returncode != 0 or not debs:
            last = (done.stderr.strip().splitlines() or ["no .deb written"])[-1]
            raise CorpusError(f"apt-get download {name} failed: {last} (try 'apt-get update')")
    deb = debs[-1]
    root = cache_dir / deb.name.removesuffix(".deb")
    if not (root / ".unpacked").exists():
        done = subprocess.run(["dpkg", "-x", str(deb), str(root)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise CorpusError(f"dpkg -x {deb.name} failed: {done.stderr.strip()[-200:]}")
        (root / ".unpacked").touch()
    return root, f"{name}={deb.name.split('_')[1]}"


# Audio


def wav_bytes(pcm: np.ndarray, sample_rate: int) -> bytes:
    """A 16-bit mono WAV file of `pcm` (the same bytes on every machine)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
    return buffer.getvalue()


def played_note(pcm: np.ndarray, sample: SampleHeader, seconds: float = NOTE_SECONDS,
                fade_seconds: float = NOTE_FADE_SECONDS) -> np.ndarray:
    """The sample as a note held for `seconds`: its loop repeated to that length (when it has a
    loop), cut there, and faded out over the last `fade_seconds`. Shorter unlooped samples stay as they are."""
    length = round(seconds * sample.sample_rate)
    loop_start, loop_end = sample.loop_start - sample.start, sample.loop_end - sample.start
    if len(pcm) < length and loop_start >= 0 and loop_end - loop_start >= 32 and loop_end <= len(pcm):
        loop = pcm[loop_start:loop_end]
        repeats = -(-(length - loop_end) // len(loop))
        pcm = np.concatenate([pcm[:loop_end], np.tile(loop, repeats)])
    if len(pcm) < length:
        return pcm
    note = pcm[:length].astype(np.float64)
    fade = min(int(fade_seconds * sample.sample_rate), length)
    note[length - fade:] *= np.linspace(1.0, 0.0, fade)
    return np.round(note).astype(np.int16)


def render(origin: str, kind: str, package_root: Path, soundfonts: dict) -> bytes:
    """The bytes of the corpus file made from `origin` (a package file, or a SoundFont sample)."""
    file_part, _, sample_part = origin.partition("#")
    path = package_root / file_part
    if not sample_part:
        return path.read_bytes()
    if path not in soundfonts:
        soundfonts[path] = read_soundfont(path)
    font: SoundFont = soundfonts[path]
    sample = font.samples[int(sample_part)]
    pcm = font.pcm(sample)
    if kind == "non_drum":
        pcm = played_note(pcm, sample)
    return wav_bytes(pcm, sample.sample_rate)


# Planning: which sounds, under which names


@dataclass
class _Candidate:
    source: str
    origin: str
    detail: str
    kind: str
    truth_name: str  # drums: the name read through the taxonomy; non-drums: the non-drum folder word
    natural_path: str  # the corpus path that keeps the original name


def safe_name(name: str) -> str:
    """A file-name-safe version of a sample name ("Power Bass Drum 1(L" -> "Power Bass Drum 1")."""
    name = re.sub(r"\s*\((?:L|R)\)?$|\s*\($", "", name.strip())
    return re.sub(r"[^\w .,+!#&-]+", "_", name).strip(" ._") or "sample"


def _file_candidates(source: str, files_root: Path, notes: list[str]) -> list[_Candidate]:
    found = []
    for path in sorted(p for p in files_root.rglob("*") if p.is_file()):
        rel = path.relative_to(files_root).as_posix()
        stem, top = path.stem, rel.split("/")[0]
        origin = (Path(SOURCES[source].root) / rel).as_posix()
        non_drum_word = ""
        if source == "lmms":
            is_drum = top in LMMS_DRUM_FOLDERS
            if top in LMMS_NON_DRUM_FOLDERS or (top == "misc" and stem in LMMS_MISC_NON_DRUMS):
                non_drum_word = LMMS_NON_DRUM_FOLDERS.get(top, "fx")
        elif source == "sonic-pi":
            is_drum = path.suffix == ".flac" and stem.startswith(SONIC_PI_DRUM_PREFIXES)
            non_drum_word = next((word for prefix, word in SONIC_PI_NON_DRUM_PREFIXES.items()
                                  if path.suffix == ".flac" and stem.startswith(prefix)), "")
        else:
            is_drum = path.suffix == ".wav"
        if non_drum_word:
            found.append(_Candidate(source, origin, "", "non_drum", non_drum_word,
                                    f"{source}/non_drums/{non_drum_word}/{rel}"))
        elif is_drum:
            truth_name = TRUTH_OVERRIDES.get((source, stem), stem)
            if truth_name is None:
                notes.append(f"{source}: {origin}: left out by hand (TRUTH_OVERRIDES)")
                continue
            in_source = rel.removeprefix("drums/") if source == "lmms" else rel
            found.append(_Candidate(source, origin, "", "drum", truth_name, f"{source}/drums/{in_source}"))
    return found


def soundfont_drum_keys(font: SoundFont) -> dict[int, set[int]]:
    """For every sample the GM drum kits (bank 128) play, the keys they play it on."""
    keys: dict[int, set[int]] = defaultdict(set)
    for preset in font.presets:
        if preset.bank == 128 and preset.program not in KITS_LEFT_OUT:
            for sample, played in font.sample_keys(preset).items():
                keys[sample] |= played
    return keys


def _is_one_side(sample: SampleHeader) -> bool:
    """Mono or the left of a stereo pair (the right is the other channel of the same sound), and not in ROM."""
    return not sample.sample_type & (SAMPLE_TYPE_RIGHT | SAMPLE_TYPE_ROM)


def _soundfont_candidates(source: str, font: SoundFont, taxonomy: Taxonomy, notes: list[str]) -> list[_Candidate]:
    origin_file = SOURCES[source].root
    found: list[_Candidate] = []
    drum_keys = soundfont_drum_keys(font)
    for index in sorted(drum_keys):
        sample = font.samples[index]
        if not _is_one_side(sample):
            continue
        keys = sorted(k for k in drum_keys[index] if k in GM_PERCUSSION and k not in GM_KEYS_LEFT_OUT)
        detail = f"{sample.name!r} keys {','.join(map(str, sorted(drum_keys[index])))}"
        if not keys:
            notes.append(f"{source}: {detail}: no GM percussion key of a drum, left out")
            continue
        said = {taxonomy.match(GM_TRUTH_NAMES[k]) for k in keys}
        classes = {m.label for m in said}
        if len(classes) != 1 or "" in classes:
            notes.append(f"{source}: {detail}: keys of several classes {sorted(classes)}, left out")
            continue
        fines = {m.fine_label for m in said}
        truth_name = GM_TRUTH_NAMES[keys[0]] if len(fines) == 1 else classes.pop()
        by_name = taxonomy.match(sample.name)
        override = TRUTH_OVERRIDES.get((source, safe_name(sample.name)), "")
        if override is None:
            notes.append(f"{source}: {detail}: left out by hand (TRUTH_OVERRIDES)")
            continue
        if override:
            truth_name = override
        elif by_name.status == "labelled" and by_name.label != taxonomy.match(truth_name).label:
            notes.append(f"{source}: {detail}: its name says {by_name.label}, its keys "
                         f"{taxonomy.match(truth_name).label}; left out")
            continue
        name = safe_name(sample.name)
        found.append(_Candidate(source, f"{origin_file}#{index}", detail, "drum", truth_name,
                                f"{source}/drums/{truth_name}/{name}.wav"))
    every_kit_sample = {sample for preset in font.presets if preset.bank == 128 for sample in font.sample_keys(preset)}
    found.extend(_melodic_candidates(source, font, every_kit_sample))
    return found


def _melodic_candidates(source: str, font: SoundFont, drum_samples: set[int]) -> list[_Candidate]:
    """Up to MELODIC_PER_PRESET samples of each bank-0 melodic preset, spread over its pitch range,
    taken round-robin in program order up to MELODIC_MAX; never a sample any drum kit plays."""
    per_preset: list[list[_Candidate]] = []
    taken: set[int] = set()
    for preset in sorted((p for p in font.presets if p.bank == 0), key=lambda p: p.program):
        if preset.program in MELODIC_PROGRAMS_LEFT_OUT:
            continue
        samples = sorted((s for s in font.sample_keys(preset) if s not in drum_samples and s not in taken
                          and _is_one_side(font.samples[s])),
                         key=lambda s: (font.samples[s].original_pitch, s))
        if not samples:
            continue
        count = min(MELODIC_PER_PRESET, len(samples))
        chosen = [samples[round(i * (len(samples) - 1) / max(count - 1, 1))] for i in range(count)]
        word = "fx" if preset.program >= 120 else "melodic"
        folder = f"{preset.program:03d} {safe_name(preset.name)}"
        picks = []
        for index in dict.fromkeys(chosen):
            taken.add(index)
            sample = font.samples[index]
            picks.append(_Candidate(source, f"{SOURCES[source].root}#{index}",
                                    f"{sample.name!r} preset {preset.program} {preset.name!r}", "non_drum", word,
                                    f"{source}/non_drums/{word}/{folder}/{safe_name(sample.name)}.wav"))
        per_preset.append(picks)
    ordered = [picks[i] for i in range(MELODIC_PER_PRESET) for picks in per_preset if i < len(picks)]
    return ordered[:MELODIC_MAX]


def _truth_of(candidate: _Candidate, taxonomy: Taxonomy) -> tuple[str, str, str] | None:
    """(path, fine label, label) of a candidate, renamed when its own name misleads; None if it has no class."""
    if candidate.kind == "non_drum":
        decision = decide_label(taxonomy, candidate.natural_path)
        if decision.status != "non_drum":
            raise CorpusError(f"{candidate.natural_path}: a non-drum the taxonomy reads as {decision.status}")
        return candidate.natural_path, "", "non_drum"
    truth = taxonomy.match(candidate.truth_name)
    if truth.status != "labelled":
        return None
    name = PurePosixPath(candidate.natural_path).name
    folder = f"{candidate.source}/drums/{candidate.truth_name}"
    renamed = f"{folder}/{candidate.truth_name}{PurePosixPath(name).suffix}"
    for path in (candidate.natural_path, f"{folder}/{name}", renamed):
        decision = decide_label(taxonomy, path)
        if decision.status == "labelled" and decision.label == truth.label:
            specific = decision.fine_label if decision.fine_label != truth.label else truth.fine_label
            return path, specific, truth.label
    raise CorpusError(f"{candidate.origin}: no name makes the taxonomy read it as {truth.label}")


def plan_corpus(cache_dir: Path, sources: list[str] | None = None, taxonomy: Taxonomy | None = None,
                notes: list[str] | None = None) -> list[CorpusEntry]:
    """Derive the truth from the packages: every corpus file, its name, origin, labels and sha256.

    Files with the same content are kept once; two files meant for one path get a numbered name.
    Why sounds were left out is appended to `notes`.
    """
    taxonomy = taxonomy or load_taxonomy()
    notes = notes if notes is not None else []
    entries: list[CorpusEntry] = []
    seen_hashes: dict[str, str] = {}
    seen_paths: set[str] = set()
    for source in sources or list(SOURCES):
        spec = SOURCES[source]
        root, package = fetch_package(spec.package, cache_dir)
        soundfonts: dict = {}
        if spec.kind == "files":
            candidates = _file_candidates(source, root / spec.root, notes)
        else:
            soundfonts[root / spec.root] = font = read_soundfont(root / spec.root)
            candidates = _soundfont_candidates(source, font, taxonomy, notes)
        for candidate in candidates:
            truth = _truth_of(candidate, taxonomy)
            if truth is None:
                notes.append(f"{source}: {candidate.origin}: no class it can be read as, left out")
                continue
            path, fine_label, label = truth
            data = render(candidate.origin, candidate.kind, root, soundfonts)
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen_hashes:
                notes.append(f"{source}: {candidate.origin}: same content as {seen_hashes[digest]}, left out")
                continue
            stem, suffix = path.rsplit(".", 1)
            number = 2
            while path.lower() in seen_paths:
                path, number = f"{stem} {number}.{suffix}", number + 1
            seen_hashes[digest] = path
            seen_paths.add(path.lower())
            entries.append(CorpusEntry(source, path, package, candidate.origin, candidate.detail, candidate.kind,
                                       fine_label, label, digest))
    return entries


# The truth file and the corpus


def write_truth(entries: list[CorpusEntry], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(CorpusEntry)], lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(entry) for entry in entries)


def read_truth(path: Path) -> list[CorpusEntry]:
    """The rows of a truth file."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [CorpusEntry(**row) for row in csv.DictReader(handle)]


def build_corpus(corpus_dir: Path, truth: list[CorpusEntry], cache_dir: Path, sources: list[str] | None = None,
                 taxonomy: Taxonomy | None = None) -> list[str]:
    """Write the corpus files the truth lists (those of `sources`, default all); the problems found.

    A file whose sha256 differs from the truth's (another package version) is still written and
    reported; a file already present with the right content is not rewritten.
    """
    taxonomy = taxonomy or load_taxonomy()
    corpus_dir = Path(corpus_dir)
    problems: list[str] = []
    by_source: dict[str, list[CorpusEntry]] = defaultdict(list)
    for entry in truth:
        if sources is None or entry.source in sources:
            by_source[entry.source].append(entry)
    for source, entries in by_source.items():
        root, package = fetch_package(SOURCES[source].package, cache_dir)
        if package != entries[0].package:
            problems.append(f"{source}: the truth was made from {entries[0].package}, this is {package}")
        soundfonts: dict = {}
        for entry in entries:
            target = corpus_dir / entry.path
            if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == entry.sha256:
                continue
            data = render(entry.origin, entry.kind, root, soundfonts)
            if hashlib.sha256(data).hexdigest() != entry.sha256:
                problems.append(f"{entry.path}: content differs from the truth's sha256")
            expected = "non_drum" if entry.kind == "non_drum" else entry.label
            decision = decide_label(taxonomy, entry.path)
            if (decision.status if entry.kind == "non_drum" else decision.label) != expected:
                problems.append(f"{entry.path}: the taxonomy no longer reads it as {expected}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return problems


def summary(entries: list[CorpusEntry]) -> str:
    """Counts per source: drums per class, and non-drums, as a Markdown table."""
    classes = ("kick", "snare", "hihat", "tom", "cymbal", "percussion")
    lines = ["| source | " + " | ".join(classes) + " | drums | non-drums |",
             "| --- |" + " ---: |" * (len(classes) + 2)]
    totals = defaultdict(int)
    for source in dict.fromkeys(e.source for e in entries):
        counts = defaultdict(int)
        for entry in entries:
            if entry.source == source:
                counts[entry.label] += 1
                totals[entry.label] += 1
        drums = sum(counts[c] for c in classes)
        cells = " | ".join(str(counts[c]) for c in classes)
        lines.append(f"| {source} | {cells} | {drums} | {counts['non_drum']} |")
    drums = sum(totals[c] for c in classes)
    lines.append("| all | " + " | ".join(str(totals[c]) for c in classes) + f" | {drums} | {totals['non_drum']} |")
    return "\n".join(lines)


# Scoring an archive index against the truth

CLASSES = ("kick", "snare", "hihat", "tom", "cymbal", "percussion")
UNSORTED = "unsorted"


def truth_table(entries: list[CorpusEntry]) -> pd.DataFrame:
    """The truth as a DataFrame (one row per corpus file)."""
    return pd.DataFrame([asdict(e) for e in entries], columns=[f.name for f in fields(CorpusEntry)])


def score(index: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Score an archive index (path, status, label, predicted_label, model1_label, model2_label)
    against the truth rows of the sources it holds (path, kind, fine_label, label).

    Macro-F1 is over the six classes on the drum files; a drum sent to `unsorted` (or not
    classified: an error) counts as wrong. `predicted_label` is the ensemble before the unsorted
    rules. The confusion counts are read on `predicted_label`.
    """
    from sklearn.metrics import f1_score

    truth = truth[["path", "kind", "fine_label", "label"]].rename(
        columns={"fine_label": "truth_fine_label", "label": "truth_label"})
    index = index.drop(columns=[c for c in ("kind", "truth_fine_label", "truth_label") if c in index])
    merged = truth.merge(index, on="path", how="left", indicator=True)
    missing = int((merged["_merge"] == "left_only").sum())
    for column in ("label", "predicted_label", "model1_label", "model2_label"):
        if column not in merged:
            merged[column] = ""
        merged[column] = merged[column].fillna("").astype(str)
    merged.loc[merged["status"].fillna("") != "ok", "label"] = UNSORTED
    drums = merged[merged["kind"] == "drum"]
    non_drums = merged[merged["kind"] == "non_drum"]

    def macro_f1(column: str) -> float | None:
        if drums.empty:
            return None
        return round(float(f1_score(drums["truth_label"], drums[column], labels=list(CLASSES), average="macro",
                                     zero_division=0)), 4)

    def share(rows: pd.DataFrame, condition: pd.Series) -> float | None:
        return round(float(condition.mean()), 4) if len(rows) else None

    fine, predicted = drums["truth_fine_label"], drums["predicted_label"]
    rim = fine.isin(["rimshot", "sidestick"])
    return {
        "drums": len(drums),
        "non_drums": len(non_drums),
        "missing_from_index": missing,
        "not_ok": int((merged["status"].fillna("") != "ok").sum()),
        "final_macro_f1": macro_f1("label"),
        "ensemble_macro_f1": macro_f1("predicted_label"),
        "model1_macro_f1": macro_f1("model1_label"),
        "model2_macro_f1": macro_f1("model2_label"),
        "drums_unsorted_share": share(drums, drums["label"] == UNSORTED),
        "non_drums_rejected_share": share(non_drums, non_drums["label"] == UNSORTED),
        "confusions": {
            "clap": int((fine == "clap").sum()),
            "clap_as_snare": int(((fine == "clap") & (predicted == "snare")).sum()),
            "snare_as_percussion": int(((drums["truth_label"] == "snare") & ~rim & (predicted == "percussion")).sum()),
            "rim_sidestick": int(rim.sum()),
            "rim_sidestick_not_snare": int((rim & (predicted != "snare")).sum()),
            "open_hihat": int((fine == "hihat_open").sum()),
            "open_hihat_as_cymbal": int(((fine == "hihat_open") & (predicted == "cymbal")).sum()),
            "cymbal_as_hihat": int(((drums["truth_label"] == "cymbal") & (predicted == "hihat")).sum()),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drum_pipeline.real_sounds.corpus", description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE_DIR,
                        help=f"package cache (default: {DEFAULT_CACHE_DIR})")
    parser.add_argument("--truth", type=Path, default=DEFAULT_TRUTH_PATH, help="the truth file")
    parser.add_argument("--sources", help=f"comma-separated subset of {','.join(SOURCES)}")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write the corpus the truth file lists")
    build.add_argument("corpus", type=Path, help="corpus folder")
    commands.add_parser("truth", help="re-derive the truth file from the packages (review the diff before committing)")
    args = parser.parse_args(argv)
    sources = args.sources.split(",") if args.sources else None
    unknown = sorted(set(sources or []) - set(SOURCES))
    try:
        if unknown:
            raise CorpusError(f"unknown source {unknown[0]!r}; the sources are {', '.join(SOURCES)}")
        if args.command == "truth":
            notes: list[str] = []
            entries = plan_corpus(args.cache, sources, notes=notes)
            write_truth(entries, args.truth)
            print("\n".join(notes))
            print(f"wrote {len(entries)} rows to {args.truth}\n{summary(entries)}")
        else:
            if not args.truth.exists():
                raise CorpusError(f"no truth file at {args.truth}")
            truth = read_truth(args.truth)
            problems = build_corpus(args.corpus, truth, args.cache, sources)
            print("\n".join(problems))
            print(f"corpus in {args.corpus} ({len(problems)} problems)\n{summary(truth)}")
    except (CorpusError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
