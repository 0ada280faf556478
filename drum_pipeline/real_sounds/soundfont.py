"""SoundFont 2 files read in pure Python: presets, instruments, sample headers and 16-bit PCM.

Only what the real-sound corpus needs: which samples each preset plays on which MIDI keys,
and the samples' PCM. Compressed SoundFonts (sf3, Ogg Vorbis samples) are refused.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Generator operators (SoundFont 2.04, section 8.1.2)
GEN_INSTRUMENT = 41
GEN_KEY_RANGE = 43
GEN_SAMPLE_ID = 53
SAMPLE_TYPE_RIGHT = 2
SAMPLE_TYPE_LINKED = 8
SAMPLE_TYPE_ROM = 0x8000
SAMPLE_TYPE_OGG = 0x10  # sf3 extension: compressed sample data

ALL_KEYS = (0, 127)


class SoundFontError(ValueError):
    """A file that is not a readable, uncompressed SoundFont 2."""


@dataclass(frozen=True)
class SampleHeader:
    """One `shdr` record; start, end and loop points are sample indices into `smpl`."""

    name: str
    start: int
    end: int
    loop_start: int
    loop_end: int
    sample_rate: int
    original_pitch: int
    sample_link: int
    sample_type: int


@dataclass(frozen=True)
class Zone:
    """A preset or instrument zone: what it points to (instrument or sample index) over which keys."""

    target: int
    key_range: tuple[int, int]


@dataclass(frozen=True)
class Instrument:
    name: str
    zones: tuple[Zone, ...]  # target = sample index


@dataclass(frozen=True)
class Preset:
    name: str
    program: int
    bank: int
    zones: tuple[Zone, ...]  # target = instrument index


@dataclass
class SoundFont:
    path: Path
    presets: list[Preset]
    instruments: list[Instrument]
    samples: list[SampleHeader]
    smpl_offset: int  # byte offset of the 16-bit PCM in the file
    smpl_count: int  # number of 16-bit words in `smpl`

    def pcm(self, sample: SampleHeader) -> np.ndarray:
        """The sample's 16-bit PCM, from its start to its end (a copy, not a view of the file)."""
        if not 0 <= sample.start <= sample.end <= self.smpl_count:
            raise SoundFontError(f"{self.path}: sample {sample.name!r} points outside the sample data")
        data = np.memmap(self.path, dtype="<i2", mode="r", offset=self.smpl_offset, shape=(self.smpl_count,))
        return np.array(data[sample.start : sample.end], dtype=np.int16)

    def sample_keys(self, preset: Preset) -> dict[int, set[int]]:
        """For each sample the preset plays, the MIDI keys it plays it on."""
        keys: dict[int, set[int]] = {}
        for preset_zone in preset.zones:
            if not 0 <= preset_zone.target < len(self.instruments):
                continue
            for zone in self.instruments[preset_zone.target].zones:
                low = max(preset_zone.key_range[0], zone.key_range[0])
                high = min(preset_zone.key_range[1], zone.key_range[1])
                if low <= high and 0 <= zone.target < len(self.samples):
                    keys.setdefault(zone.target, set()).update(range(low, high + 1))
        return keys


def _chunks(data: bytes, start: int, end: int) -> dict[str, tuple[int, int]]:
    """The sub-chunks between `start` and `end`: id (or LIST type) -> (data offset, size)."""
    found: dict[str, tuple[int, int]] = {}
    pos = start
    while pos + 8 <= end:
        chunk_id, size = struct.unpack_from("<4sI", data, pos)
        name = chunk_id.decode("latin-1")
        if name == "LIST":
            name = "LIST " + data[pos + 8 : pos + 12].decode("latin-1")
        found[name] = (pos + 8, size)
        pos += 8 + size + (size & 1)
    return found


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


def _zones(bags: list[tuple[int, int]], generators: list[tuple[int, int]], first: int, last: int,
           target_operator: int) -> tuple[Zone, ...]:
    """The zones of bags first..last-1; a leading zone without a target is global (its key range is the default)."""
    zones: list[Zone] = []
    default_range = ALL_KEYS
    for bag in range(first, last):
        gen_start, gen_end = bags[bag][0], bags[bag + 1][0]
        key_range, target = None, None
        for operator, amount in generators[gen_start:gen_end]:
            if operator == GEN_KEY_RANGE:
                key_range = (amount & 0xFF, amount >> 8)
            elif operator == target_operator:
                target = amount
        if target is None:
            if bag == first and key_range:
                default_range = key_range
            continue
        zones.append(Zone(target, key_range or default_range))
    return tuple(zones)


def read_soundfont(path: Path | str) -> SoundFont:
    """Parse the hydra (`pdta`) of a SoundFont 2 file and locate its PCM; the PCM itself is read lazily."""
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
            raise SoundFontError(f"{path}: not a SoundFont 2 file (no RIFF sfbk header)")
        # Read the chunk list without reading the (large) sample data.
        top: dict[str, tuple[int, int]] = {}
        pos, end = 12, 8 + struct.unpack("<I", head[4:8])[0]
        while pos + 12 <= end:
            handle.seek(pos)
            chunk_id, size, list_type = struct.unpack("<4sI4s", handle.read(12))
            top[list_type.decode("latin-1") if chunk_id == b"LIST" else chunk_id.decode("latin-1")] = (pos + 8, size)
            pos += 8 + size + (size & 1)
        if "sdta" not in top or "pdta" not in top:
            raise SoundFontError(f"{path}: no sdta or pdta list")
        handle.seek(top["sdta"][0])
        sdta = _chunks(handle.read(12 + 8), 4, 12 + 8)  # only the first sub-chunk header is needed
        handle.seek(top["pdta"][0])
        pdta_bytes = handle.read(top["pdta"][1])
    if "smpl" not in sdta:
        raise SoundFontError(f"{path}: no smpl chunk")
    smpl_offset = top["sdta"][0] + sdta["smpl"][0]
    smpl_count = sdta["smpl"][1] // 2
    pdta = _chunks(pdta_bytes, 4, len(pdta_bytes))

    def records(name: str, fmt: str) -> list[tuple]:
        if name not in pdta:
            raise SoundFontError(f"{path}: no {name} chunk")
        offset, size = pdta[name]
        return [struct.unpack_from(fmt, pdta_bytes, offset + i) for i in range(0, size - size % struct.calcsize(fmt),
                                                                             struct.calcsize(fmt))]

    phdr = records("phdr", "<20sHHHIII")
    pbag = [(gen, mod) for gen, mod in records("pbag", "<HH")]
    pgen = [(operator, amount) for operator, amount in records("pgen", "<HH")]
    inst = records("inst", "<20sH")
    ibag = [(gen, mod) for gen, mod in records("ibag", "<HH")]
    igen = [(operator, amount) for operator, amount in records("igen", "<HH")]
    shdr = records("shdr", "<20sIIIIIBbHH")

    presets = [Preset(_name(name), program, bank, _zones(pbag, pgen, bag, phdr[i + 1][3], GEN_INSTRUMENT))
               for i, (name, program, bank, bag, *_rest) in enumerate(phdr[:-1])]  # the last record is "EOP"
    instruments = [Instrument(_name(name), _zones(ibag, igen, bag, inst[i + 1][1], GEN_SAMPLE_ID))
                   for i, (name, bag) in enumerate(inst[:-1])]
    samples = [SampleHeader(_name(name), start, end, loop_start, loop_end, rate, pitch, link, kind)
               for name, start, end, loop_start, loop_end, rate, pitch, _correction, link, kind in shdr[:-1]]
    if any(s.sample_type & SAMPLE_TYPE_OGG for s in samples):
        raise SoundFontError(f"{path}: compressed (sf3) samples are not supported")
    return SoundFont(path, presets, instruments, samples, smpl_offset, smpl_count)
