"""The built-in demo: a labelled library and a messy archive, synthesized deterministically.

The library names its files the many ways real packs do; the archive names them badly and
mixes in non-drum material, duplicates and broken files. Each folder gets a
`_demo_manifest.csv` with the truth (fine label or kind of every file) for tests and checks.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from drum_pipeline.audio.folders import has_audio
from drum_pipeline.demo import synth

MANIFEST_NAME = "_demo_manifest.csv"

# (format, subtype, extension) choices for writing
WAV16 = ("WAV", "PCM_16", ".wav")
WAV24 = ("WAV", "PCM_24", ".wav")
WAVF = ("WAV", "FLOAT", ".wav")
FLAC = ("FLAC", "PCM_16", ".flac")
OGG = ("OGG", "VORBIS", ".ogg")
AIFF = ("AIFF", "PCM_16", ".aif")
AIFF24 = ("AIFF", "PCM_24", ".aiff")

# Name phrases per fine label, as packs write them. Each phrase is a list of words that a
# pack's naming style joins and numbers in its own way.
PHRASES: dict[str, list[list[str]]] = {
    "kick": [["kick"], ["bass", "drum"], ["bd"], ["kick", "drum"], ["kick", "hard"]],
    "snare": [["snare"], ["sd"], ["snare", "drum"], ["snare", "top"]],
    "rimshot": [["rimshot"], ["rim", "shot"], ["rim"]],
    "sidestick": [["side", "stick"], ["sidestick"], ["cross", "stick"]],
    "hihat_closed": [["closed", "hh"], ["hh", "closed"], ["chh"], ["hat", "closed"], ["hi", "hat", "closed"]],
    "hihat_open": [["open", "hh"], ["ohh"], ["hh", "open"], ["open", "hat"], ["hi", "hat", "open"]],
    "hihat_pedal": [["hi", "hat", "pedal"], ["pedal", "hh"], ["phh"], ["foot", "hat"]],
    "crash": [["crash"], ["crash", "18in"], ["cr"], ["crash", "cymbal"]],
    "ride": [["ride"], ["rd"], ["ride", "cymbal"], ["ride", "20in"]],
    "ride_bell": [["ride", "bell"], ["bell", "ride"]],
    "splash": [["splash"], ["splash", "10in"]],
    "china": [["china"], ["china", "cymbal"], ["china", "16in"]],
    "tom_high": [["tom", "hi"], ["high", "tom"], ["ht"], ["rack", "tom"]],
    "tom_mid": [["tom", "mid"], ["mid", "tom"], ["mt"]],
    "tom_low": [["floor", "tom"], ["tom", "low"], ["lt"], ["low", "tom"]],
    "clap": [["clap"], ["cp"], ["hand", "clap"]],
    "snap": [["snap"], ["finger", "snap"]],
    "cowbell": [["cowbell"], ["cb"], ["cow", "bell"]],
    "clave": [["clave"], ["claves"]],
    "conga": [["conga", "hi"], ["conga", "lo"], ["conga"]],
    "bongo": [["bongo"], ["bongo", "hi"], ["bongo", "lo"]],
    "djembe": [["djembe"], ["djembe", "slap"]],
    "tabla": [["tabla"], ["tabla", "na"]],
    "timbale": [["timbale"], ["timbales", "hi"]],
    "cajon": [["cajon"], ["cajon", "thump"], ["cajon", "slap"]],
    "shaker": [["shaker"], ["egg", "shaker"]],
    "maraca": [["maraca"], ["maracas"]],
    "cabasa": [["cabasa"]],
    "tambourine": [["tambourine"], ["tamb"]],
    "triangle": [["triangle"], ["triangle", "open"]],
    "woodblock": [["woodblock"], ["wood", "block"]],
    "agogo": [["agogo"], ["agogo", "bell"]],
    "guiro": [["guiro"]],
}

NON_DRUM_PHRASES: dict[str, list[list[str]]] = {
    "loop": [["drum", "loop", "120bpm"], ["beat", "loop"], ["break", "loop", "95bpm"]],
    "fx": [["sweep", "up"], ["fx", "riser"], ["downlifter", "fx"]],
    "bass": [["sub", "bass", "c1"], ["bass", "shot"], ["808", "bass", "f"]],
    "melodic": [["pluck", "c4"], ["synth", "stab"], ["piano", "chord"]],
    "vocal": [["vox", "hey"], ["vocal", "chop"]],
}

CLASS_FOLDERS = {
    "kick": "Kicks",
    "snare": "Snares",
    "rimshot": "Snares",
    "sidestick": "Snares",
    "hihat_closed": "Hats",
    "hihat_open": "Hats",
    "hihat_pedal": "Hats",
    "crash": "Cymbals",
    "ride": "Cymbals",
    "ride_bell": "Cymbals",
    "splash": "Cymbals",
    "china": "Cymbals",
    "tom_high": "Toms",
    "tom_mid": "Toms",
    "tom_low": "Toms",
}


@dataclass(frozen=True)
class PackSpec:
    name: str
    style: str  # how words are joined: "title", "underscore", "dash", "camel", "upper"
    layout: str  # "flat", "class_folders", "instrument_folders"
    labels: tuple[str, ...]
    per_label: int
    formats: tuple[tuple[str, str, str], ...]
    rates: tuple[int, ...]
    stereo: float  # share of stereo files
    prefix: str = ""


ALL_PERC = ("clap", "snap", "cowbell", "clave", "conga", "bongo", "djembe", "tabla", "timbale", "cajon",
            "shaker", "maraca", "cabasa", "tambourine", "triangle", "woodblock", "agogo", "guiro")

LIBRARY_PACKS = (
    PackSpec("Vengeful Essentials Vol 1", "title", "class_folders",
             ("kick", "snare", "rimshot", "hihat_closed", "hihat_open", "crash", "ride", "tom_high",
              "tom_low", "clap", "shaker", "cowbell"), 7, (WAV24,), (44100,), 0.7, "VEH"),
    PackSpec("TR-808 Collection", "title", "flat",
             ("kick", "snare", "rimshot", "hihat_closed", "hihat_open", "crash", "tom_high", "tom_mid",
              "tom_low", "clap", "cowbell", "clave", "conga", "maraca"), 6, (FLAC, WAV16), (44100, 48000), 0.0, "808"),
    PackSpec("Studio Kit Multisamples", "underscore", "instrument_folders",
             ("kick", "snare", "sidestick", "hihat_closed", "hihat_pedal", "ride", "ride_bell", "tom_high",
              "tom_mid", "tom_low", "crash"), 7, (WAV24,), (48000,), 1.0),
    PackSpec("Lo-Fi Hits", "dash", "flat",
             ("kick", "snare", "hihat_closed", "hihat_open", "clap", "snap", "rimshot", "crash", "ride",
              "tom_mid", "shaker", "tambourine", "woodblock", "cowbell"), 5, (OGG, WAV16), (22050, 44100), 0.5),
    PackSpec("World Percussion", "title", "instrument_folders",
             ("conga", "bongo", "djembe", "tabla", "timbale", "cajon", "shaker", "maraca", "cabasa",
              "tambourine", "triangle", "woodblock", "agogo", "guiro", "clave", "cowbell"), 5,
             (AIFF, AIFF24), (48000,), 0.5),
    PackSpec("Electro Drums 2", "camel", "flat",
             ("kick", "snare", "hihat_closed", "hihat_open", "hihat_pedal", "clap", "crash", "splash", "ride",
              "tom_high", "tom_low", "snap"), 6, (WAVF,), (96000, 44100), 0.3),
    PackSpec("Acoustic Cymbals Pro", "title", "flat",
             ("crash", "ride", "ride_bell", "splash", "china", "hihat_closed", "hihat_open", "hihat_pedal"),
             8, (WAV24, FLAC), (96000, 48000), 1.0),
    PackSpec("Abbrev Kit", "upper", "flat",
             ("kick", "snare", "rimshot", "sidestick", "hihat_closed", "hihat_open", "crash", "ride",
              "tom_high", "tom_mid", "tom_low", "clap", "cowbell", "china", "splash"), 5,
             (AIFF, WAV16, FLAC), (22050, 32000, 44100), 0.2),
)


ABBREVIATIONS = frozenset({"bd", "sd", "hh", "chh", "ohh", "phh", "cr", "rd", "ht", "mt", "lt", "cp", "cb"})


def _cap(word: str) -> str:
    return word.upper() if word in ABBREVIATIONS else word.capitalize()


def _words(words: list[str], style: str, number: int, prefix: str) -> str:
    words = [_cap(w) for w in words]
    if prefix:
        words.insert(0, prefix)
    if style == "title":
        return " ".join(words) + f" {number:02d}"
    if style == "underscore":
        return "_".join(words) + f"_V{number:02d}"
    if style == "dash":
        return "-".join(w.lower() for w in words) + f"-{number:02d}"
    if style == "camel":
        return "".join(words) + f"{number}"
    if style == "upper":
        return "_".join(w.upper() for w in words) + f"_{number:02d}"
    raise ValueError(f"unknown naming style {style!r}")


def _write(path: Path, mono: np.ndarray, sr: int, fmt, rng: np.random.Generator, stereo: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = mono
    if stereo:
        delay = int(rng.integers(0, max(1, sr // 2000)))
        pan = rng.uniform(0.7, 1.0)
        right = np.concatenate([np.zeros(delay, np.float32), mono[: len(mono) - delay]])
        data = np.stack([mono, pan * right], axis=1)
    file_format, subtype, _ext = fmt
    sf.write(str(path), data, sr, format=file_format, subtype=subtype)


def _pack_rng(seed: int, *names: str) -> np.random.Generator:
    key = [seed] + [int.from_bytes(n.encode(), "little") % (2**32) for n in names]
    return np.random.default_rng(key)


def make_demo_library(root: Path, seed: int = 7, scale: float = 1.0) -> list[dict]:
    """Write the labelled demo library under `root`; returns the manifest rows (relpath, fine_label)."""
    root = Path(root)
    rows: list[dict] = []
    for pack in LIBRARY_PACKS:
        rng = _pack_rng(seed, pack.name)
        count = max(1, round(pack.per_label * scale))
        for fine in pack.labels:
            phrase = PHRASES[fine][int(rng.integers(len(PHRASES[fine])))]
            for i in range(1, count + 1):
                fmt = pack.formats[int(rng.integers(len(pack.formats)))]
                sr = int(pack.rates[int(rng.integers(len(pack.rates)))])
                stem = _words(phrase, pack.style, i, pack.prefix)
                if pack.layout == "class_folders":
                    folder = CLASS_FOLDERS.get(fine, "Percussion")
                elif pack.layout == "instrument_folders":
                    folder = " ".join(_cap(w) for w in phrase)
                else:
                    folder = ""
                relpath = "/".join(p for p in (pack.name, folder, stem + fmt[2]) if p)
                _write(root / relpath, synth.render(fine, rng, sr), sr, fmt, rng, rng.random() < pack.stereo)
                rows.append({"relpath": relpath, "kind": "drum", "fine_label": fine})
    rng = _pack_rng(seed, "non-drum")
    for kind, phrases in NON_DRUM_PHRASES.items():
        for i in range(1, max(1, round(4 * scale)) + 1):
            phrase = phrases[(i - 1) % len(phrases)]
            relpath = f"Misc Oneshots/{kind.capitalize()}/{_words(phrase, 'title', i, '')}.wav"
            _write(root / relpath, synth.render(kind, rng, 44100), 44100, WAV16, rng, False)
            rows.append({"relpath": relpath, "kind": kind, "fine_label": ""})
    _write_manifest(root, rows)
    return rows


ARCHIVE_PACKS = (
    # (pack folder, sub folders, file name pattern, formats, rates)
    ("Unknown Pack A", ("one shots",), "s{n:05d}", (WAV16, WAV24), (44100,)),
    ("Processed", ("one shots", "one shots/bounced"), "hit {n}", (AIFF, WAVF), (48000, 44100)),
    ("Roland TR-808 Samples", ("Bank A", "Bank B"), "smp_{n:03d}", (WAV16, FLAC), (44100,)),
    ("Linn LM-1", ("ROM dump",), "0x{n:02x}", (WAV16,), (22050, 32000)),
    ("Downloads", ("untitled folder", "untitled folder/new"), "Audio {n}", (FLAC, OGG), (44100, 96000)),
    ("Vengeance Minimal", ("Kicks", "Hats", "Percs"), "v{n:03d}", (WAV24,), (44100,)),
)
PRESORTED = {"Kicks": ("kick",), "Hats": ("hihat_closed", "hihat_open"), "Percs": ("shaker", "conga", "clap")}


def make_demo_archive(root: Path, seed: int = 7, scale: float = 1.0) -> list[dict]:
    """Write the unsorted demo archive under `root`; returns the manifest rows (relpath, kind, fine_label, source)."""
    root = Path(root)
    rng = _pack_rng(seed, "archive")
    drum_labels = list(synth.DRUM_VOICES)
    rows: list[dict] = []
    per_pack = max(2, round(48 * scale))
    n = 0
    for pack, subfolders, pattern, formats, rates in ARCHIVE_PACKS:
        for i in range(per_pack):
            n += 1
            sub = subfolders[i % len(subfolders)]
            fine = str(rng.choice(PRESORTED.get(sub, drum_labels)))
            fmt = formats[int(rng.integers(len(formats)))]
            sr = int(rates[int(rng.integers(len(rates)))])
            relpath = f"{pack}/{sub}/{pattern.format(n=n)}{fmt[2]}"
            _write(root / relpath, synth.render(fine, rng, sr), sr, fmt, rng, rng.random() < 0.4)
            rows.append({"relpath": relpath, "kind": "drum", "fine_label": fine, "source": ""})
    for _ in range(per_pack // 4):
        n += 1
        fine = str(rng.choice(drum_labels))
        relpath = f"s{n:04d}.wav"
        _write(root / relpath, synth.render(fine, rng, 44100), 44100, WAV16, rng, False)
        rows.append({"relpath": relpath, "kind": "drum", "fine_label": fine, "source": ""})
    kinds = list(synth.NON_DRUM_VOICES)
    for i in range(max(len(kinds), round(30 * scale))):
        n += 1
        kind = kinds[i % len(kinds)]
        relpath = f"Downloads/misc/take {n}.wav"
        _write(root / relpath, synth.render(kind, rng, 44100), 44100, WAV16, rng, rng.random() < 0.5)
        rows.append({"relpath": relpath, "kind": kind, "fine_label": "", "source": ""})
    drums = [r for r in rows if r["kind"] == "drum"]
    for i in range(max(2, round(12 * scale))):
        original = drums[int(rng.integers(len(drums)))]
        relpath = f"Processed/copies/copy of {Path(original['relpath']).stem} ({i}){Path(original['relpath']).suffix}"
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / original["relpath"], root / relpath)
        rows.append({"relpath": relpath, "kind": "duplicate", "fine_label": original["fine_label"],
                     "source": original["relpath"]})
    rows += _write_broken_files(root / "Downloads" / "broken", root)
    _write_manifest(root, rows)
    return rows


def _write_broken_files(folder: Path, root: Path) -> list[dict]:
    """One file of each broken kind: zero bytes, truncated WAV and FLAC, text as .wav, bad fmt chunk."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = _pack_rng(0, "broken")
    good = folder / "tmp_good.wav"
    sf.write(str(good), synth.render("kick", rng, 44100), 44100, subtype="PCM_16")
    wav = good.read_bytes()
    good.unlink()
    flac_path = folder / "tmp_good.flac"
    sf.write(str(flac_path), synth.render("snare", rng, 44100), 44100, format="FLAC")
    flac = flac_path.read_bytes()
    flac_path.unlink()
    bad_fmt = bytearray(wav)
    bad_fmt[22:24] = (0).to_bytes(2, "little")  # fmt chunk: 0 channels
    broken = {
        "empty.wav": b"",
        "truncated header.wav": wav[:30],
        "truncated stream.flac": flac[: len(flac) // 3],
        "readme saved as.wav": b"These samples are free for personal use.\nEnjoy!\n" * 20,
        "bad fmt chunk.wav": bytes(bad_fmt),
    }
    rows = []
    for name, data in broken.items():
        (folder / name).write_bytes(data)
        rows.append({"relpath": (folder / name).relative_to(root).as_posix(), "kind": "broken",
                     "fine_label": "", "source": ""})
    return rows


def _write_manifest(root: Path, rows: list[dict]) -> None:
    with open(root / MANIFEST_NAME, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_manifest(root: Path) -> list[dict]:
    with open(Path(root) / MANIFEST_NAME, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def ensure_demo_library(folder: Path, is_default: bool, seed: int) -> str | None:
    """Synthesize the demo library in `folder` when it is the default library folder and holds no audio.

    Never writes into a folder the user named. Returns a message when it wrote.
    """
    if is_default and not has_audio(folder):
        rows = make_demo_library(folder, seed=seed)
        return f"synthesized the demo library: {len(rows)} files in {folder}"
    return None


def ensure_demo_archive(folder: Path, is_default: bool, seed: int) -> str | None:
    """Synthesize the demo archive when `folder` is the default archive folder and holds no audio (as above)."""
    if is_default and not has_audio(folder):
        rows = make_demo_archive(folder, seed=seed)
        return f"synthesized the demo archive: {len(rows)} files in {folder}"
    return None
