"""Gravis UltraSound patch files (.pat, as freepats ships them) read in pure Python.

Only what the real-sound corpus needs: each wave's PCM (8 or 16 bit, signed or unsigned),
sample rate, root frequency and loop points. Envelopes, tremolo and vibrato are not read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HEADER_SIZE = 129  # patch header: magic, id, description, counts, data size, reserved
INSTRUMENT_SIZE = 63
LAYER_SIZE = 47
WAVE_HEADER_SIZE = 96
MAGICS = (b"GF1PATCH110\0", b"GF1PATCH100\0")

MODE_16BIT = 0x01
MODE_UNSIGNED = 0x02
MODE_LOOPING = 0x04
MODE_PINGPONG = 0x08


class PatchError(ValueError):
    """A file that is not a readable GUS patch."""


@dataclass(frozen=True)
class Wave:
    """One wave of a patch; loop points are in samples (not bytes), from the wave's start."""

    name: str
    pcm: np.ndarray  # int16, mono
    sample_rate: int
    root_frequency: float  # Hz
    low_frequency: float
    high_frequency: float
    loop_start: int
    loop_end: int
    modes: int

    @property
    def looped(self) -> bool:
        return bool(self.modes & MODE_LOOPING) and self.loop_end - self.loop_start > 0

    @property
    def pingpong(self) -> bool:
        return bool(self.modes & MODE_PINGPONG)


def _pcm(raw: bytes, modes: int) -> np.ndarray:
    """The wave data as int16, whatever its width and signedness."""
    if modes & MODE_16BIT:
        data = np.frombuffer(raw[: len(raw) - len(raw) % 2], dtype="<u2" if modes & MODE_UNSIGNED else "<i2")
        if modes & MODE_UNSIGNED:
            return (data.astype(np.int32) - 32768).astype(np.int16)
        return data.astype(np.int16)
    data = np.frombuffer(raw, dtype=np.uint8 if modes & MODE_UNSIGNED else np.int8).astype(np.int32)
    if modes & MODE_UNSIGNED:
        data -= 128
    return (data * 256).astype(np.int16)


def read_patch(path: Path | str) -> list[Wave]:
    """Every wave of the patch's first instrument and layer, in file order."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < HEADER_SIZE + INSTRUMENT_SIZE + LAYER_SIZE or data[:12] not in MAGICS:
        raise PatchError(f"{path}: not a GUS patch (no GF1PATCH header)")
    (count,) = struct.unpack_from("<H", data, 85)
    pos = HEADER_SIZE + INSTRUMENT_SIZE + LAYER_SIZE
    waves = []
    for _ in range(count):
        if pos + WAVE_HEADER_SIZE > len(data):
            raise PatchError(f"{path}: truncated wave header")
        name = data[pos : pos + 7].split(b"\0", 1)[0].decode("latin-1").strip()
        size, loop_start, loop_end, rate, low, high, root = struct.unpack_from("<IIIHIII", data, pos + 8)
        modes = data[pos + 55]
        start = pos + WAVE_HEADER_SIZE
        if start + size > len(data) or rate == 0:
            raise PatchError(f"{path}: wave {len(waves)} is truncated or has no sample rate")
        width = 2 if modes & MODE_16BIT else 1
        pcm = _pcm(data[start : start + size], modes)
        waves.append(Wave(name, pcm, rate, root / 1000, low / 1000, high / 1000,
                          min(loop_start // width, len(pcm)), min(loop_end // width, len(pcm)), modes))
        pos = start + size
    if not waves:
        raise PatchError(f"{path}: no wave")
    return waves
