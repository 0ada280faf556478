"""One note of a SoundFont preset, rendered through the `fluidsynth` command line.

A SoundFont's raw PCM is not always its sound (short looped snippets shaped by envelopes and
filters); a synthesizer playing the note is. The MIDI file is written here (one note on, held,
off, then silence for the tail); fluidsynth renders it faster than real time to 32-bit float
(its 16-bit output is dithered with noise), reverb and chorus off.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np

RENDER_RATE = 44100
DRUM_CHANNEL = 9
TICKS_PER_QUARTER = 1000
MICROSECONDS_PER_QUARTER = 1_000_000  # with TICKS_PER_QUARTER, one tick is one millisecond
CC_BANK_SELECT = 0
CC_GENERAL_PURPOSE = 16  # does nothing audible: an event that keeps the player running through the tail


class RenderError(RuntimeError):
    """fluidsynth missing or failing; the message says why in one line."""


def _variable_length(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def note_midi_file(channel: int, program: int, key: int, velocity: int, hold_seconds: float, tail_seconds: float,
                   bank: int | None = None) -> bytes:
    """A format-0 MIDI file: bank (if given) and program on `channel`, `key` held for `hold_seconds`,
    then `tail_seconds` of silence (closed by a harmless controller event so a player renders them)."""
    hold, tail = round(hold_seconds * 1000), round(tail_seconds * 1000)
    select = [] if bank is None else [(0, bytes([0xB0 | channel, CC_BANK_SELECT, bank & 0x7F]))]
    events = [
        (0, b"\xff\x51\x03" + MICROSECONDS_PER_QUARTER.to_bytes(3, "big")),
        *select,
        (0, bytes([0xC0 | channel, program])),
        (0, bytes([0x90 | channel, key, velocity])),
        (hold, bytes([0x80 | channel, key, 0])),
        (tail, bytes([0xB0 | channel, CC_GENERAL_PURPOSE, 0])),
        (0, b"\xff\x2f\x00"),
    ]
    track = b"".join(_variable_length(delta) + event for delta, event in events)
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER)
    return header + b"MTrk" + struct.pack(">I", len(track)) + track


def render_midi(font: Path, midi: bytes, sample_rate: int = RENDER_RATE) -> np.ndarray:
    """The MIDI file played on the SoundFont: float32 frames (n, 2)."""
    if shutil.which("fluidsynth") is None:
        raise RenderError("fluidsynth not found: install it with 'apt-get install -y fluidsynth'")
    with tempfile.TemporaryDirectory(prefix="drum-render-") as folder:
        midi_path, out_path = Path(folder) / "note.mid", Path(folder) / "note.raw"
        midi_path.write_bytes(midi)
        command = ["fluidsynth", "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", "1.0", "-r", str(sample_rate),
                   "-T", "raw", "-O", "float", "-E", "little", "-F", str(out_path), str(font), str(midi_path)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out_path.exists():
            last = ((done.stderr or done.stdout).strip().splitlines() or ["no output written"])[-1]
            raise RenderError(f"fluidsynth failed on {Path(font).name}: {last}")
        frames = np.fromfile(out_path, dtype="<f4")
    return frames[: len(frames) - len(frames) % 2].reshape(-1, 2)


def trim_tail(mono: np.ndarray, threshold_db: float) -> np.ndarray:
    """`mono` without the trailing part quieter than `threshold_db` below its peak."""
    peak = float(np.max(np.abs(mono))) if len(mono) else 0.0
    if peak == 0.0:
        return mono[:0]
    loud = np.flatnonzero(np.abs(mono) >= peak * 10 ** (threshold_db / 20))
    return mono[: loud[-1] + 1]


def to_int16(mono: np.ndarray, peak: float) -> np.ndarray:
    """`mono` scaled to `peak` (a fraction of full scale) and rounded to 16 bits."""
    top = float(np.max(np.abs(mono))) if len(mono) else 0.0
    scaled = mono.astype(np.float64) * (peak * 32767 / top if top else 0.0)
    return np.round(scaled).astype(np.int16)
