import io
import struct

import numpy as np
import pytest
import soundfile as sf

from drum_pipeline.audio.folders import scan_audio_files
from drum_pipeline.audio.loader import AudioLoadError, load_window
from drum_pipeline.demo.data import (
    AIFF,
    AIFF24,
    FLAC,
    OGG,
    WAV16,
    WAV24,
    WAVF,
    _write_broken_files,
)


def _sine(sr, seconds, freq=440.0, channels=1):
    t = np.arange(int(sr * seconds)) / sr
    mono = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return mono if channels == 1 else np.stack([mono] * channels, axis=1)


@pytest.mark.parametrize("fmt", [WAV16, WAV24, WAVF, FLAC, OGG, AIFF, AIFF24], ids=lambda f: f"{f[0]}-{f[1]}")
@pytest.mark.parametrize("sr", [22050, 44100, 96000])
@pytest.mark.parametrize("channels", [1, 2])
def test_every_demo_format_decodes_to_mono_at_the_target_rate(tmp_path, fmt, sr, channels):
    path = tmp_path / f"tone{fmt[2]}"
    sf.write(str(path), _sine(sr, 0.5, channels=channels), sr, format=fmt[0], subtype=fmt[1])
    audio = load_window(path, sample_rate=22050, window_seconds=1.0)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.sample_rate == 22050 and audio.source_sample_rate == sr and audio.channels == channels
    assert abs(len(audio.samples) - 0.5 * 22050) <= 0.01 * 22050  # OGG may pad a few ms
    assert abs(audio.source_duration - 0.5) < 0.01
    spectrum = np.abs(np.fft.rfft(audio.samples[:8192]))
    peak_hz = np.argmax(spectrum) * 22050 / 8192
    assert abs(peak_hz - 440) < 10
    assert 0.4 < np.max(np.abs(audio.samples)) < 0.6


def test_only_the_window_is_read_from_a_long_file(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(str(path), _sine(8000, 120.0), 8000, subtype="PCM_16")
    audio = load_window(path, sample_rate=8000, window_seconds=0.75)
    assert len(audio.samples) == 6000
    assert audio.source_duration == pytest.approx(120.0)


@pytest.mark.parametrize(
    "name, reason",
    [
        ("empty.wav", "empty file"),
        ("truncated header.wav", "no data chunk"),
        ("truncated stream.flac", "lost sync"),
        ("readme saved as.wav", "not recognised"),
        ("bad fmt chunk.wav", "0 channels"),
    ],
)
def test_every_broken_kind_raises_one_clear_error(tmp_path, name, reason):
    _write_broken_files(tmp_path, tmp_path)
    with pytest.raises(AudioLoadError) as info:
        load_window(tmp_path / name)
    message = str(info.value)
    assert reason in message
    assert "\n" not in message and str(tmp_path) not in message


def test_missing_and_unreadable_files_raise_audio_load_error(tmp_path):
    with pytest.raises(AudioLoadError, match="cannot open"):
        load_window(tmp_path / "nope.wav")


def _riff(fmt_body: bytes, data: bytes, data_size: int | None = None) -> bytes:
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body
    body += b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + body


def test_wav_with_streaming_sizes_is_read_by_the_tolerant_parser(tmp_path):
    pcm = (np.clip(_sine(16000, 0.25), -1, 1) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    path = tmp_path / "streamed.wav"
    path.write_bytes(_riff(fmt, pcm, data_size=0xFFFFFFFF))
    audio = load_window(path, sample_rate=16000)
    assert len(audio.samples) == 4000
    assert np.allclose(audio.samples, _sine(16000, 0.25), atol=1e-3)


def test_ogg_stream_inside_a_wav_container_is_decoded(tmp_path):
    # Some old collections (LMMS's drums among them) ship Ogg Vorbis in a RIFF/WAVE wrapper.
    buffer = io.BytesIO()
    sf.write(buffer, _sine(44100, 0.5), 44100, format="OGG", subtype="VORBIS")
    fmt = struct.pack("<HHIIHH", 0x674F, 1, 44100, 11000, 1, 16)
    path = tmp_path / "kick04.ogg"
    path.write_bytes(_riff(fmt, buffer.getvalue()))
    audio = load_window(path)
    assert audio.format == "OGG"
    assert abs(len(audio.samples) - 0.5 * 22050) < 0.01 * 22050


def test_every_file_of_the_demo_archive_loads_or_fails_cleanly(small_demo):
    failures = []
    for f in scan_audio_files(small_demo / "archive"):
        try:
            audio = load_window(f.path)
            assert np.all(np.isfinite(audio.samples)) and len(audio.samples) > 0
        except AudioLoadError:
            failures.append(f.relpath)
    assert sorted(failures) == sorted(
        f"Downloads/broken/{name}"
        for name in ("empty.wav", "truncated header.wav", "truncated stream.flac", "readme saved as.wav",
                     "bad fmt chunk.wav")
    )
