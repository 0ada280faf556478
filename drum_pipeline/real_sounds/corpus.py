"""A labelled corpus of real drum one-shots and real non-drum sounds, rebuilt from Debian packages.

    python -m drum_pipeline.real_sounds.corpus build data/real_sounds/corpus    # the corpus, from the truth file
    python -m drum_pipeline.real_sounds.corpus truth                            # re-derive the truth file (review the diff)

The corpus is `<corpus>/<source>/<drums|non_drums>/.../<name>`: package files are copied as
they are; SoundFont samples, GUS patch waves, STK rawwaves and notes rendered by fluidsynth are
written as 16-bit mono WAV. Every name carries its truth, so the project's own label extraction
(`labels.decide_label`) reads each drum as its class and each non-drum as `non_drum`. The truth
file (`bench/real_sounds_truth.csv`, reviewed and committed) lists every corpus file with its
origin and the sha256 of the written file; `build` writes exactly those files, so the corpus is
the same on every machine with the same package versions and fluidsynth. No audio is committed.

Where the truth comes from:
- package files (lmms, sonic-pi, exadrums): their file names, read through the taxonomy;
- SoundFonts (fluid, opl3): the General MIDI percussion key(s) a drum-kit preset (bank 128)
  plays the sample on, read through the taxonomy, cross-checked with the sample's own name;
  samples of melodic presets (bank 0) are the non-drums, rendered as 1.5 s notes;
- GUS patches (freepats): the GM percussion key in each drum patch's file name, cross-checked
  with the rest of the name; melodic patches' waves are the non-drums, as for the SoundFonts;
- STK rawwaves (stk): the drum names in `STK_DRUMS`, nothing else;
- SoundFonts whose drums are short loops shaped by envelopes (timgm6mb, csound): each distinct
  set of samples a kit key plays, rendered through fluidsynth, labelled by the key as above.
A sample or file the rules cannot label with confidence is left out, never guessed;
`TRUTH_OVERRIDES` holds the hand-reviewed exceptions. A sound that repeats one already in the
corpus (the same bytes, or near-identical audio: `near_duplicates`) is kept once.
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
import tempfile
import urllib.parse
import wave
from collections import defaultdict
from dataclasses import asdict, dataclass, fields
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from drum_pipeline.audio.loader import AudioLoadError, load_window
from drum_pipeline.labels.names import decide_label
from drum_pipeline.labels.taxonomy import Taxonomy, load_taxonomy
from drum_pipeline.real_sounds import midi_render
from drum_pipeline.real_sounds.gus_patch import Wave, read_patch
from drum_pipeline.real_sounds.near_duplicates import FINGERPRINT_RATE, NEAR_IDENTICAL, NearDuplicateIndex, fingerprint
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
# Whistles are no drum at all.
GM_KEYS_LEFT_OUT = {71: "whistle", 72: "whistle"}
# Drum-kit presets whose keys do not follow the GM map.
KITS_LEFT_OUT = {48: "Orchestra kit: timpani on the tom and hi-hat keys", 56: "SFX kit: sound effects on the keys",
                 127: "CM-64/32 kit: sound effects on keys 76-84"}
# Melodic programs that are drums or tuned percussion themselves: neither drums nor non-drums here.
MELODIC_PROGRAMS_LEFT_OUT = {47: "Timpani", **{p: "percussive family" for p in range(112, 120)}}
MELODIC_PER_PRESET = 2
MELODIC_MAX = 200
NOTE_SECONDS = 1.5
NOTE_FADE_SECONDS = 0.3
# Rendered drum notes: held this long (kits decay while the key is down), then the release tail;
# trailing audio quieter than TRIM_DB under the peak is cut, the rest scaled to RENDER_PEAK.
DRUM_HOLD_SECONDS = 4.0
DRUM_TAIL_SECONDS = 3.0
TRIM_DB = -60.0
RENDER_PEAK = 0.9
VELOCITY = 127  # the default velocity-to-filter modulator leaves the sound unfiltered only here
STK_RATE = 22050


@dataclass(frozen=True)
class Source:
    package: str
    kind: str  # "files", "soundfont", "patches" (GUS), "rawwaves" (STK), "rendered" (SoundFont, via fluidsynth)
    # or "drumsynth" (LMMS's DrumSynth presets, rendered by drumsynth.py)
    root: str  # folder (files, patches, rawwaves, drumsynth) or .sf2 file (soundfont, rendered) inside the package
    licence: str  # of the sounds, from usr/share/doc/<package>/copyright


SOURCES = {
    "lmms": Source("lmms-common", "files", "usr/share/lmms/samples", "GPL-2+"),
    "sonic-pi": Source("sonic-pi-samples", "files", "usr/share/sonic-pi/samples", "CC0-1.0"),
    "exadrums": Source("exadrums", "files", "usr/share/exadrums", "BSD-3-Clause"),
    "fluid": Source("fluid-soundfont-gm", "soundfont", "usr/share/sounds/sf2/FluidR3_GM.sf2", "MIT"),
    "opl3": Source("opl3-soundfont", "soundfont", "usr/share/sounds/sf2/OPL-3_FM_128M.sf2", "CC-BY-SA-4.0"),
    "freepats": Source("freepats", "patches", "usr/share/midi/freepats",
                       "GPL-2+ with a composition exception (3 drum patches' .txt: GFDL-1.2+)"),
    "stk": Source("stk", "rawwaves", "usr/share/stk/rawwaves", "STK licence (MIT-like, free use)"),
    "timgm6mb": Source("timgm6mb-soundfont", "rendered", "usr/share/sounds/sf2/TimGM6mb.sf2", "GPL-2"),
    "csound": Source("csound-soundfont", "rendered", "usr/share/sounds/sf2/sf_GMbank.sf2", "public domain"),
    "drumsynth": Source("lmms-common", "drumsynth", "usr/share/lmms/samples/drumsynth", "GPL-2+"),
}
# Sounds designed and rendered (drumsynth.py), not recorded: reported apart from the recorded sources.
RENDERED_SOURCES = frozenset({"drumsynth"})
DRUMSYNTH_RATE = 44100
# Left out on purpose: musescore-general-soundfont-lossless (its GM kits are FluidR3's samples,
# PCM correlation 1.0; its marching kits follow no GM map), sf3 fonts.

# STK's drum rawwaves (the ones its Drummer plays), by the name read through the taxonomy. The
# rest are single cycles (sinewave, impuls*, *blnk, ahh/eee/ooo), instrument excitations (mand*,
# mandpluk, britestk, marmstk1), silence, and dope (the Drummer's fallback: no class).
STK_DRUMS = {"bassdrum": "Bass Drum", "snardrum": "Snare", "tomlowdr": "Low Tom", "tommiddr": "Mid Tom",
             "tomhidrm": "High Tom", "hihatcym": "Hi-Hat", "ridecymb": "Ride Cymbal", "crashcym": "Crash Cymbal",
             "cowbell1": "Cowbell", "tambourn": "Tambourine"}
# Rendered kits: samples layered under other samples for an attack click or a room tail. They
# name no class of their own, and a key that plays the same samples as another but for these
# plays the same sound.
LAYER_NAMES = {"Filter Snap": "a 14 ms click layered on the Power, Electronic and TR 808 kits' keys",
               "Snare Verb": "a room tail layered on the Room and Power kits' snares and toms",
               "Kick Verb": "a room tail layered on the Power kit's kick"}

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

# Hand-reviewed exceptions, (source, file stem, sample name, or "<kit> key <key>" for rendered
# kits) -> the name that carries the truth (read through the taxonomy), or None to leave the sound
# out. Each one was read and decided on its name, duration and spectrum; see bench/REAL_SOUNDS.md.
TRUTH_OVERRIDES: dict[tuple[str, str], str | None] = {
    # DrumSynth presets under misc_perc that are no drum hit, as sonic-pi's perc_bell and perc_door are not
    ("drumsynth", "door_knock"): None, ("drumsynth", "bell"): None,
    # (LMMS's "bassdrum", "clav" and "wood" are taxonomy words now: their overrides went.)
    # "opened" is not a taxonomy word: the class is read right, the fine label (open hi-hat) is not.
    **{("lmms", f"hihat_opened0{n}"): "Open Hi-Hat" for n in (1, 2, 3)},
    ("lmms", "nasty_bass01"): None,  # 0.16 s, centroid 2.8 kHz: not clearly a kick
    ("lmms", "zap01"): None, ("lmms", "zap02"): None, ("lmms", "zap03"): None,  # synth zaps: no class
    ("sonic-pi", "drum_roll"): None,  # a 6 s roll, not a one-shot
    ("sonic-pi", "perc_bell"): None, ("sonic-pi", "perc_bell2"): None,  # 5-7 s pitched bells
    ("sonic-pi", "perc_door"): None, ("sonic-pi", "perc_till"): None,  # a door knock, a cash till
    ("sonic-pi", "perc_swash"): None, ("sonic-pi", "perc_swoosh"): None,  # whooshes
    # "wood" became a taxonomy word after this source was reviewed: 0.48 s, most energy at 100-250 Hz,
    # an electronic blip rather than a wood block.
    ("sonic-pi", "elec_wood"): None,
    # The brush kits play this brush slap on key 39 (Hand Clap); it is a snare hit, as its name says.
    ("fluid", "Brush Snr 2"): "Brush Snare",
    # A TR-808 cymbal (CY7500) on the ride-bell key; its own notes: "not very close to a ride bell".
    ("freepats", "053_Cymbal_Ride_Bell"): "Cymbal",
    ("freepats", "069_Cabasa"): "Shaker",  # made from the maracas recording, its notes say: a shaker, not surely a cabasa
    # The brush kits' key 40 is the brush swirl: TimGM6mb plays a noise ("Ocean Wave", 0.8 s), no snare hit.
    ("timgm6mb", "Brush key 40"): None, ("csound", "Brush key 40"): None,
    # sf_GMbank's kits are TimGM6mb's; these keys play what TimGM6mb's play, but for the Filter Snap
    # click TimGM6mb layers on them (waveform correlation 0.98 and more; the click alone tells them apart).
    **{("csound", kit_key): None for kit_key in ("Electronic key 41", "TR 808 key 36", "TR 808 key 37", "TR 808 key 38",
                                                  "TR 808 key 41", "TR 808 key 42", "Brush key 38")},
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
    return root, f"{name}={urllib.parse.unquote(deb.name.split('_')[1])}"  # apt-get writes an epoch's ':' as %3a


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
    return looped_note(pcm, sample.sample_rate, sample.loop_start - sample.start, sample.loop_end - sample.start,
                       seconds=seconds, fade_seconds=fade_seconds)


def looped_note(pcm: np.ndarray, sample_rate: int, loop_start: int, loop_end: int, pingpong: bool = False,
                seconds: float = NOTE_SECONDS, fade_seconds: float = NOTE_FADE_SECONDS, min_loop: int = 32) -> np.ndarray:
    """`played_note` for PCM whose loop (relative to its start) is given; a ping-pong loop plays
    forth and back; a loop shorter than `min_loop` points is not repeated."""
    length = round(seconds * sample_rate)
    if len(pcm) < length and loop_start >= 0 and loop_end - loop_start >= min_loop and loop_end <= len(pcm):
        loop = pcm[loop_start:loop_end]
        if pingpong:
            loop = np.concatenate([loop, loop[-2:0:-1]])
        repeats = -(-(length - loop_end) // len(loop))
        pcm = np.concatenate([pcm[:loop_end], np.tile(loop, repeats)])
    if len(pcm) < length:
        return pcm
    note = pcm[:length].astype(np.float64)
    fade = min(int(fade_seconds * sample_rate), length)
    note[length - fade:] *= np.linspace(1.0, 0.0, fade)
    return np.round(note).astype(np.int16)


def read_rawwave(path: Path) -> np.ndarray:
    """An STK rawwave: headerless 16-bit big-endian mono PCM (at STK_RATE)."""
    data = Path(path).read_bytes()
    return np.frombuffer(data[: len(data) - len(data) % 2], dtype=">i2").astype(np.int16)


def wave_note(wave: Wave) -> np.ndarray:
    """A melodic patch wave as a note, like `played_note` (its loop repeated, cut, faded). The top
    waves of some patches are a few cycles looped over one (10 points at 4.4 kHz): repeated too."""
    loop = (wave.loop_start, wave.loop_end) if wave.looped else (-1, -1)
    return looped_note(wave.pcm, wave.sample_rate, *loop, pingpong=wave.pingpong, min_loop=2)


def rendered_note(font: Path, bank: int, program: int, key: int, kind: str) -> np.ndarray:
    """A kit key (bank 128) or a melodic note played by fluidsynth: mono, its silent tail trimmed,
    scaled to RENDER_PEAK. Drums ring out; melodic notes are cut to NOTE_SECONDS and faded like `played_note`."""
    if kind == "drum":
        midi = midi_render.note_midi_file(midi_render.DRUM_CHANNEL, program, key, VELOCITY, DRUM_HOLD_SECONDS,
                                          DRUM_TAIL_SECONDS)
    else:
        midi = midi_render.note_midi_file(0, program, key, VELOCITY, NOTE_SECONDS, NOTE_FADE_SECONDS, bank=bank)
    try:
        frames = midi_render.render_midi(font, midi, midi_render.RENDER_RATE)
    except midi_render.RenderError as exc:
        raise CorpusError(str(exc)) from None
    mono = frames.astype(np.float64).mean(axis=1)
    mono = mono[int(np.argmax(mono != 0)):]  # fluidsynth starts with a few silent frames
    if kind != "drum":
        mono = mono[: round(NOTE_SECONDS * midi_render.RENDER_RATE)]
        fade = min(round(NOTE_FADE_SECONDS * midi_render.RENDER_RATE), len(mono))
        mono[len(mono) - fade:] *= np.linspace(1.0, 0.0, fade)
    mono = midi_render.trim_tail(mono, TRIM_DB)
    if not len(mono):
        raise CorpusError(f"{Path(font).name}: bank {bank} program {program} key {key} renders as silence")
    return midi_render.to_int16(mono, RENDER_PEAK)


def render(origin: str, kind: str, package_root: Path, soundfonts: dict) -> bytes:
    """The bytes of the corpus file made from `origin`: a package file (GUS patches and STK
    rawwaves become WAV), a SoundFont sample (`#<index>`), a patch's wave (`#<index>`) or a
    rendered note (`#<bank>:<program>:<key>`)."""
    file_part, _, sample_part = origin.partition("#")
    path = package_root / file_part
    if path.suffix == ".pat":
        waves = read_patch(path)
        if not sample_part:
            return wav_bytes(waves[0].pcm, waves[0].sample_rate)
        wave = waves[int(sample_part)]
        return wav_bytes(wave_note(wave), wave.sample_rate)
    if path.suffix == ".raw":
        return wav_bytes(read_rawwave(path), STK_RATE)
    if path.suffix == ".ds":
        return wav_bytes(drumsynth_pcm(path), DRUMSYNTH_RATE)
    if not sample_part:
        return path.read_bytes()
    if ":" in sample_part:
        bank, program, key = map(int, sample_part.split(":"))
        return wav_bytes(rendered_note(path, bank, program, key, kind), midi_render.RENDER_RATE)
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
        said = {taxonomy.match(GM_PERCUSSION[k]) for k in keys}
        classes = {m.label for m in said}
        if len(classes) != 1 or "" in classes:
            notes.append(f"{source}: {detail}: keys of several classes {sorted(classes)}, left out")
            continue
        fines = {m.fine_label for m in said}
        truth_name = GM_PERCUSSION[keys[0]] if len(fines) == 1 else classes.pop()
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


def _melodic_candidates(source: str, font: SoundFont, drum_samples: set[int], rendered: bool = False) -> list[_Candidate]:
    """Up to MELODIC_PER_PRESET samples of each bank-0 melodic preset, spread over its pitch range,
    taken round-robin in program order up to MELODIC_MAX; never a sample any drum kit plays.
    `rendered`: each is the preset's note on the key nearest the sample's pitch, played by fluidsynth."""
    per_preset: list[list[_Candidate]] = []
    taken: set[int] = set()
    for preset in sorted((p for p in font.presets if p.bank == 0), key=lambda p: p.program):
        if preset.program in MELODIC_PROGRAMS_LEFT_OUT:
            continue
        keys = font.sample_keys(preset)
        samples = sorted((s for s in keys if s not in drum_samples and s not in taken
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
            detail = f"{sample.name!r} preset {preset.program} {preset.name!r}"
            origin = f"{SOURCES[source].root}#{index}"
            if rendered:
                key = min(keys[index], key=lambda k: (abs(k - sample.original_pitch), k))
                origin, detail = f"{SOURCES[source].root}#0:{preset.program}:{key}", f"{detail} key {key}"
            picks.append(_Candidate(source, origin, detail, "non_drum", word,
                                    f"{source}/non_drums/{word}/{folder}/{safe_name(sample.name)}.wav"))
        per_preset.append(picks)
    return _round_robin(per_preset)


def _round_robin(per_preset: list[list[_Candidate]]) -> list[_Candidate]:
    ordered = [picks[i] for i in range(MELODIC_PER_PRESET) for picks in per_preset if i < len(picks)]
    return ordered[:MELODIC_MAX]


def _gm_key_truth(key: int) -> str | None:
    """The GM percussion name of a drum key, None for keys outside the map or left out."""
    if key not in GM_PERCUSSION or key in GM_KEYS_LEFT_OUT:
        return None
    return GM_PERCUSSION[key]


def _patch_candidates(source: str, root: Path, taxonomy: Taxonomy, notes: list[str]) -> list[_Candidate]:
    """freepats: drum patches (`Drum_000/<key>_<name>.pat`, the first wave) by the key in their
    name, cross-checked with the rest of it; the waves of melodic patches (`Tone_000/<program>_<name>.pat`)
    as non-drums, chosen as for the SoundFonts."""
    spec = SOURCES[source]
    found: list[_Candidate] = []
    for path in sorted((root / "Drum_000").glob("*.pat")):
        origin = (Path(spec.root) / "Drum_000" / path.name).as_posix()
        key, _, name = path.stem.partition("_")
        truth_name = _gm_key_truth(int(key))
        override = TRUTH_OVERRIDES.get((source, path.stem), "")
        if override is None or truth_name is None:
            why = "left out by hand (TRUTH_OVERRIDES)" if override is None else "no GM percussion key of a drum"
            notes.append(f"{source}: {origin}: {why}, left out")
            continue
        by_name, by_key = taxonomy.match(name.replace("_", " ")), taxonomy.match(truth_name)
        if override:
            truth_name = override
        elif by_name.status == "labelled" and by_name.label != by_key.label:
            notes.append(f"{source}: {origin}: its name says {by_name.label}, its key {by_key.label}; left out")
            continue
        found.append(_Candidate(source, origin, f"key {int(key)}", "drum", truth_name,
                                f"{source}/drums/{truth_name}/{path.stem}.wav"))
    per_preset: list[list[_Candidate]] = []
    for path in sorted((root / "Tone_000").glob("*.pat")):
        program = int(path.stem.split("_", 1)[0])
        if program in MELODIC_PROGRAMS_LEFT_OUT:
            continue
        waves = read_patch(path)
        order = sorted(range(len(waves)), key=lambda i: (waves[i].root_frequency, i))
        count = min(MELODIC_PER_PRESET, len(order))
        chosen = dict.fromkeys(order[round(i * (len(order) - 1) / max(count - 1, 1))] for i in range(count))
        word = "fx" if program >= 120 else "melodic"
        origin = (Path(spec.root) / "Tone_000" / path.name).as_posix()
        per_preset.append([_Candidate(source, f"{origin}#{i}", f"wave {i} of {len(waves)}, root "
                                      f"{waves[i].root_frequency:.1f} Hz", "non_drum", word,
                                      f"{source}/non_drums/{word}/{path.stem}/wave {i}.wav") for i in chosen])
    return found + _round_robin(per_preset)


def _rawwave_candidates(source: str, root: Path, notes: list[str]) -> list[_Candidate]:
    """stk: the drum rawwaves of STK_DRUMS, by their names; the other rawwaves are no one-shots."""
    found = []
    for path in sorted(root.glob("*.raw")):
        origin = (Path(SOURCES[source].root) / path.name).as_posix()
        truth_name = TRUTH_OVERRIDES.get((source, path.stem), STK_DRUMS.get(path.stem))
        if truth_name is None:
            notes.append(f"{source}: {origin}: a single cycle, an excitation or no class, left out")
            continue
        found.append(_Candidate(source, origin, "", "drum", truth_name, f"{source}/drums/{truth_name}/{path.stem}.wav"))
    return found


def drumsynth_pcm(path: Path) -> np.ndarray:
    """A DrumSynth preset rendered as 16-bit mono at DRUMSYNTH_RATE (silence when it renders none)."""
    from drum_pipeline.real_sounds.drumsynth import render_preset

    return midi_render.to_int16(render_preset(path.read_bytes(), DRUMSYNTH_RATE), RENDER_PEAK)


def _drumsynth_candidates(source: str, root: Path, taxonomy: Taxonomy, notes: list[str]) -> list[_Candidate]:
    """drumsynth: every preset its name and kit folder label (read as the library's names are);
    the ones they call non-drum (bass, fx, loop, ...) are the non-drums. Unlabelled, ambiguous and
    silent presets are left out."""
    from drum_pipeline.real_sounds.drumsynth import DrumSynthError

    found = []
    for path in sorted(root.rglob("*.ds")):
        rel = path.relative_to(root).with_suffix(".wav").as_posix()
        origin = (Path(SOURCES[source].root) / path.relative_to(root)).as_posix()
        decision = decide_label(taxonomy, rel)
        if "#" in origin:  # the origin's separator (misc_fx/f#m7_space_signal.ds, a synth stab)
            notes.append(f"{source}: {origin}: a '#' in its name, left out")
            continue
        if decision.status not in ("labelled", "non_drum"):
            notes.append(f"{source}: {origin}: {decision.status} by its name, left out")
            continue
        try:
            silent = not np.any(drumsynth_pcm(path))
        except DrumSynthError as exc:
            notes.append(f"{source}: {origin}: does not render ({exc}), left out")
            continue
        if silent:
            notes.append(f"{source}: {origin}: renders as silence, left out")
        elif decision.status == "non_drum":
            found.append(_Candidate(source, origin, "", "non_drum", "fx", f"{source}/non_drums/fx/{rel}"))
        else:
            truth_name = TRUTH_OVERRIDES.get((source, path.stem), decision.fine_label)
            if truth_name is None:
                notes.append(f"{source}: {origin}: left out by hand (TRUTH_OVERRIDES)")
                continue
            found.append(_Candidate(source, origin, "", "drum", truth_name, f"{source}/drums/{rel}"))
    return found


def _rendered_candidates(source: str, font: SoundFont, taxonomy: Taxonomy, notes: list[str]) -> list[_Candidate]:
    """A SoundFont whose kits shape short looped samples: one rendered note for each distinct
    (set of samples a kit key plays, LAYER_NAMES aside; class of the key), at the kit key that
    plays the fewest layers, then the first kit (by program) and key. The key's GM name is the
    truth; a set whose sample names name another class than the key's, or two classes, is left out."""
    origin_file = SOURCES[source].root
    units: dict[tuple[frozenset, str], list[tuple[int, int, int, str, list[str]]]] = {}
    for preset in sorted((p for p in font.presets if p.bank == 128), key=lambda p: p.program):
        if preset.program in KITS_LEFT_OUT:
            continue
        by_key: dict[int, set[int]] = defaultdict(set)
        for sample, keys in font.sample_keys(preset).items():
            if _is_one_side(font.samples[sample]):
                for key in keys:
                    by_key[key].add(sample)
        for key in sorted(by_key):
            truth_name = _gm_key_truth(key)
            if truth_name is None:
                continue
            names = [font.samples[s].name for s in sorted(by_key[key])]
            layers = {s for s in by_key[key] if font.samples[s].name in LAYER_NAMES}
            identity = frozenset(by_key[key] - layers) or frozenset(by_key[key])
            units.setdefault((identity, taxonomy.match(truth_name).label), []).append(
                (len(layers), preset.program, key, preset.name, names))
    found = []
    for (_identity, label), uses in units.items():
        _layers, program, key, kit, names = min(uses)
        named = {taxonomy.match(n).label for n in names if n not in LAYER_NAMES} - {""}
        stem = safe_name(f"{kit} {'+'.join(names)}")
        detail = f"kit {program} {kit!r} key {key} ({len(uses)} kit keys): {', '.join(names)}"
        override = TRUTH_OVERRIDES.get((source, f"{kit} key {key}"), "")
        if override is None:
            notes.append(f"{source}: {detail}: left out by hand (TRUTH_OVERRIDES)")
            continue
        if not override and (len(named) > 1 or named and label not in named):
            notes.append(f"{source}: {detail}: its samples' names say {sorted(named)}, its key {label}; left out")
            continue
        truth_name = override or GM_PERCUSSION[key]
        found.append(_Candidate(source, f"{origin_file}#128:{program}:{key}", detail, "drum", truth_name,
                                f"{source}/drums/{truth_name}/{stem}.wav"))
    every_kit_sample = {sample for preset in font.presets if preset.bank == 128 for sample in font.sample_keys(preset)}
    return found + _melodic_candidates(source, font, every_kit_sample, rendered=True)


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


def _candidates(source: str, root: Path, soundfonts: dict, taxonomy: Taxonomy, notes: list[str]) -> list[_Candidate]:
    spec = SOURCES[source]
    if spec.kind == "files":
        return _file_candidates(source, root / spec.root, notes)
    if spec.kind == "patches":
        return _patch_candidates(source, root / spec.root, taxonomy, notes)
    if spec.kind == "rawwaves":
        return _rawwave_candidates(source, root / spec.root, notes)
    if spec.kind == "drumsynth":
        return _drumsynth_candidates(source, root / spec.root, taxonomy, notes)
    soundfonts[root / spec.root] = font = read_soundfont(root / spec.root)
    if spec.kind == "rendered":
        if shutil.which("fluidsynth") is None:
            raise CorpusError(f"fluidsynth not found: the {source} source renders its notes with it "
                              "(apt-get install -y fluidsynth)")
        return _rendered_candidates(source, font, taxonomy, notes)
    return _soundfont_candidates(source, font, taxonomy, notes)


def sound_print(data: bytes, suffix: str, folder: Path) -> np.ndarray | None:
    """The near-duplicate fingerprint of a corpus file's bytes (decoded by the project's loader); None if undecodable."""
    path = Path(folder) / f"sound{suffix}"
    path.write_bytes(data)
    try:
        audio = load_window(path, FINGERPRINT_RATE, window_seconds=3.0)
    except AudioLoadError:
        return None
    return fingerprint(audio.samples, audio.sample_rate)


def plan_corpus(cache_dir: Path, sources: list[str] | None = None, taxonomy: Taxonomy | None = None,
                notes: list[str] | None = None) -> list[CorpusEntry]:
    """Derive the truth from the packages: every corpus file, its name, origin, labels and sha256.

    A file with the same content as one before it, or near-identical audio (`near_duplicates`:
    drums compared with drums, non-drums with non-drums, across all sources), is left out; two
    files meant for one path get a numbered name. Why sounds were left out is appended to `notes`.
    """
    taxonomy = taxonomy or load_taxonomy()
    notes = notes if notes is not None else []
    entries: list[CorpusEntry] = []
    seen_hashes: dict[str, str] = {}
    seen_paths: set[str] = set()
    seen_sounds = {"drum": NearDuplicateIndex(), "non_drum": NearDuplicateIndex()}
    with tempfile.TemporaryDirectory(prefix="drum-corpus-") as folder:
        for source in sources or list(SOURCES):
            root, package = fetch_package(SOURCES[source].package, cache_dir)
            soundfonts: dict = {}
            for candidate in _candidates(source, root, soundfonts, taxonomy, notes):
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
                print_ = sound_print(data, PurePosixPath(path).suffix, Path(folder))
                if print_ is not None:
                    twin, similarity = seen_sounds[candidate.kind].closest(print_)
                    if similarity >= NEAR_IDENTICAL[candidate.kind]:
                        notes.append(f"{source}: {candidate.origin}: near-identical to {twin} "
                                     f"(correlation {similarity:.3f}), left out")
                        continue
                stem, suffix = path.rsplit(".", 1)
                number = 2
                while path.lower() in seen_paths:
                    path, number = f"{stem} {number}.{suffix}", number + 1
                seen_hashes[digest] = path
                seen_paths.add(path.lower())
                if print_ is not None:
                    seen_sounds[candidate.kind].add(path, print_)
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
