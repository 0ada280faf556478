"""The one audio loader: decodes only the analysed window, mono, resampled with soxr."""

from __future__ import annotations

import io
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

DEFAULT_SAMPLE_RATE = 22050
DEFAULT_WINDOW_SECONDS = 1.0


class AudioLoadError(Exception):
    """A file that cannot be decoded; `str(error)` is a one-line reason."""


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono, at `sample_rate`, at most the window long
    sample_rate: int
    source_sample_rate: int
    channels: int
    source_frames: int  # length of the whole file, in frames at the source rate
    format: str  # e.g. "WAV", "FLAC", "OGG", "AIFF"
    subtype: str  # e.g. "PCM_16", "FLOAT", "VORBIS"

    @property
    def source_duration(self) -> float:
        return self.source_frames / self.source_sample_rate


def load_window(
    path: Path,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    window_seconds: float = DEFAULT_WINDOW_SECONDS,
) -> DecodedAudio:
    """Decode the first `window_seconds` of `path` as mono float32 at `sample_rate`.

    Only the window is read from disk, whatever the file's length. libsndfile (soundfile) reads
    WAV, AIFF, FLAC, OGG and MP3; WAVs whose header libsndfile rejects (wrong chunk sizes, as
    streaming writers leave them) are read by a tolerant RIFF parser. Raises AudioLoadError.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AudioLoadError(f"cannot open: {exc.strerror or exc}") from None
    if size == 0:
        raise AudioLoadError("empty file (0 bytes)")
    try:
        frames, source_rate, channels, total, fmt, subtype = _read_soundfile(path, window_seconds)
    except OSError as exc:
        raise AudioLoadError(f"cannot open: {exc.strerror or exc}") from None
    except Exception as exc:  # libsndfile raises several types; all mean "not decodable"
        primary = _one_line(exc)
        try:
            frames, source_rate, channels, total, fmt, subtype = _read_wav_tolerant(path, window_seconds)
        except AudioLoadError as fallback_exc:
            raise AudioLoadError(f"{primary}; {fallback_exc}") from None
    if frames.shape[0] == 0:
        raise AudioLoadError("no audio frames")
    mono = frames.mean(axis=1, dtype=np.float32) if frames.shape[1] > 1 else frames[:, 0]
    if not np.all(np.isfinite(mono)):
        raise AudioLoadError("audio contains NaN or infinite samples")
    if source_rate != sample_rate:
        mono = soxr.resample(mono, source_rate, sample_rate, quality="HQ").astype(np.float32, copy=False)
    return DecodedAudio(
        samples=np.ascontiguousarray(mono, dtype=np.float32),
        sample_rate=sample_rate,
        source_sample_rate=source_rate,
        channels=channels,
        source_frames=total,
        format=fmt,
        subtype=subtype,
    )


def _read_soundfile(source, window_seconds: float):
    with sf.SoundFile(source if isinstance(source, io.IOBase) else str(source)) as f:
        if f.samplerate <= 0 or f.channels <= 0:
            raise AudioLoadError(f"invalid header: {f.channels} channels at {f.samplerate} Hz")
        wanted = math.ceil(window_seconds * f.samplerate)
        frames = f.read(wanted, dtype="float32", always_2d=True)
        return frames, f.samplerate, f.channels, f.frames, f.format, f.subtype


def _one_line(exc: Exception) -> str:
    """libsndfile's message without the path it repeats ("Error opening '/x.wav': ...")."""
    lines = str(exc).strip().splitlines()
    message = lines[-1] if lines else type(exc).__name__
    return re.sub(r"^Error opening .*?: ", "", message)[:200]


_WAV_FORMATS = {1: "PCM", 3: "FLOAT"}
_EXTENSIBLE = 0xFFFE


def _read_wav_tolerant(path: Path, window_seconds: float):
    """Read a RIFF/WAVE file by walking its chunks, trusting the bytes present over declared sizes.

    Also reads an Ogg stream wrapped in a WAV container (format tag 0x674f), as some old
    sample collections ship them.
    """
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise AudioLoadError("not a recognised audio format")
        fmt = None
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                raise AudioLoadError("WAV has no data chunk" if fmt else "WAV has no fmt chunk")
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"fmt ":
                fmt = fh.read(min(chunk_size, 64))
                fh.seek(max(0, chunk_size - 64) + (chunk_size & 1), 1)
            elif chunk_id == b"data":
                if fmt is None:
                    raise AudioLoadError("WAV data chunk comes before its fmt chunk")
                if fh.read(4) == b"OggS":
                    fh.seek(-4, 1)
                    return _read_soundfile(io.BytesIO(fh.read(chunk_size)), window_seconds)
                fh.seek(-4, 1)
                return _decode_pcm(fh, _parse_fmt(fmt), chunk_size, window_seconds, path)
            else:
                fh.seek(chunk_size + (chunk_size & 1), 1)


def _parse_fmt(body: bytes) -> tuple[int, int, int, int]:
    if len(body) < 16:
        raise AudioLoadError("malformed WAV fmt chunk: shorter than 16 bytes")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack("<H", body[24:26])[0]
    if tag not in _WAV_FORMATS:
        raise AudioLoadError(f"malformed WAV fmt chunk: unsupported format tag {tag}")
    if not 1 <= channels <= 64:
        raise AudioLoadError(f"malformed WAV fmt chunk: {channels} channels")
    if not 1000 <= rate <= 768000:
        raise AudioLoadError(f"malformed WAV fmt chunk: sample rate {rate} Hz")
    if (tag == 1 and bits not in (8, 16, 24, 32)) or (tag == 3 and bits not in (32, 64)):
        raise AudioLoadError(f"malformed WAV fmt chunk: {bits} bits per sample")
    return tag, channels, rate, bits


def _decode_pcm(fh, fmt, declared_size: int, window_seconds: float, path: Path):
    tag, channels, rate, bits = fmt
    frame_bytes = channels * bits // 8
    start = fh.tell()
    available = path.stat().st_size - start
    data_size = available if declared_size in (0, 0xFFFFFFFF) else min(declared_size, available)
    total = data_size // frame_bytes
    wanted = min(total, math.ceil(window_seconds * rate))
    raw = fh.read(wanted * frame_bytes)
    if tag == 3:
        samples = np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8").astype(np.float32)
    elif bits == 8:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8
        samples = ints.astype(np.float32) / float(1 << 23)
    else:
        dtype = "<i2" if bits == 16 else "<i4"
        samples = np.frombuffer(raw, dtype=dtype).astype(np.float32) / float(1 << (bits - 1))
    return samples.reshape(-1, channels), rate, channels, total, "WAV", f"{_WAV_FORMATS[tag]}_{bits}"
