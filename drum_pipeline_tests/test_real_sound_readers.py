"""The readers of the newer real-sound sources (GUS patches, STK rawwaves, SoundFont notes played by
fluidsynth) and the near-duplicate check, on files written here (no downloads)."""

import io
import shutil
import struct
import wave

import numpy as np
import pytest
from test_real_corpus import write_tiny_soundfont

from drum_pipeline.real_sounds import corpus as real_corpus
from drum_pipeline.real_sounds import midi_render
from drum_pipeline.real_sounds.corpus import NOTE_SECONDS, STK_RATE, CorpusError, build_corpus, plan_corpus, read_rawwave
from drum_pipeline.real_sounds.gus_patch import MODE_16BIT, MODE_LOOPING, MODE_UNSIGNED, PatchError, read_patch
from drum_pipeline.real_sounds.near_duplicates import NEAR_IDENTICAL, NearDuplicateIndex, fingerprint, similarity

needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None,
                                      reason="fluidsynth is not installed (apt-get install -y fluidsynth)")


def _wav_pcm(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2"), wav.getframerate()


def write_patch(path, waves: list[dict]) -> None:
    """A GUS patch: one instrument, one layer, the given waves (data: the raw bytes; loop points in bytes)."""
    header = (b"GF1PATCH110\0" + b"ID#000002\0" + b"test patch".ljust(60, b"\0")
              + struct.pack("<BBBHHI", 1, 14, 0, len(waves), 127, sum(len(w["data"]) for w in waves)) + b"\0" * 36)
    instrument = struct.pack("<H16sIB", 0, b"test", 0, 1) + b"\0" * 40
    layer = struct.pack("<BBIB", 0, 0, 0, len(waves)) + b"\0" * 40
    body = b""
    for w in waves:
        body += (struct.pack("<7sBIIIHIII", w.get("name", "w").encode(), 0, len(w["data"]), w.get("loop_start", 0),
                             w.get("loop_end", 0), w["rate"], 20000, 8000000, w["root"])
                 + struct.pack("<hB", 0, 7) + b"\0" * 6 + b"\0" * 6 + b"\0" * 6 + bytes([w["modes"]])
                 + struct.pack("<HH", 60, 1024) + b"\0" * 36)
        body += w["data"]
    assert len(header) == 129 and len(instrument) == 63 and len(layer) == 47
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + instrument + layer + body)


def _decaying_noise(rng, n: int, rate: float) -> np.ndarray:
    return (rng.normal(0, 8000, n) * np.exp(-np.arange(n) / rate)).clip(-32000, 32000).astype(np.int16)


# GUS patches


def test_patch_reader_reads_widths_signedness_rate_and_loop(tmp_path):
    rng = np.random.default_rng(1)
    signed16 = rng.integers(-30000, 30000, 1000).astype(np.int16)
    unsigned8 = rng.integers(0, 256, 500).astype(np.uint8)
    unsigned16 = rng.integers(0, 65536, 300).astype(np.uint16)
    path = tmp_path / "test.pat"
    write_patch(path, [
        dict(data=signed16.astype("<i2").tobytes(), rate=32000, root=261626, loop_start=200, loop_end=1600,
             modes=MODE_16BIT | MODE_LOOPING),
        dict(data=unsigned8.tobytes(), rate=22050, root=440000, modes=MODE_UNSIGNED),
        dict(data=unsigned16.astype("<u2").tobytes(), rate=44100, root=880000, modes=MODE_16BIT | MODE_UNSIGNED),
    ])
    first, second, third = read_patch(path)
    np.testing.assert_array_equal(first.pcm, signed16)
    assert (first.sample_rate, first.loop_start, first.loop_end, first.looped) == (32000, 100, 800, True)
    assert first.root_frequency == pytest.approx(261.626)
    np.testing.assert_array_equal(second.pcm, (unsigned8.astype(np.int32) - 128) * 256)
    assert (second.sample_rate, second.looped) == (22050, False)
    np.testing.assert_array_equal(third.pcm, unsigned16.astype(np.int32) - 32768)


def test_patch_reader_refuses_what_is_no_patch(tmp_path):
    path = tmp_path / "not.pat"
    path.write_bytes(b"RIFF" + b"\0" * 400)
    with pytest.raises(PatchError, match="not a GUS patch"):
        read_patch(path)


@pytest.fixture
def fake_packages(tmp_path, monkeypatch):
    """Fake unpacked freepats and stk packages (and any other by name) that fetch_package returns."""
    roots = {}

    def fetch(name, cache_dir):
        roots.setdefault(name, tmp_path / name)
        return roots[name], f"{name}=test"

    monkeypatch.setattr(real_corpus, "fetch_package", fetch)
    return lambda name: fetch(name, None)[0]


def test_freepats_drums_by_key_and_melodic_waves_as_notes(fake_packages, tmp_path):
    rng = np.random.default_rng(2)
    drums = fake_packages("freepats") / real_corpus.SOURCES["freepats"].root / "Drum_000"
    kick = _decaying_noise(rng, 4000, 600.0)
    write_patch(drums / "036_Kick_X.pat", [dict(data=kick.astype("<i2").tobytes(), rate=44100, root=261626,
                                                modes=MODE_16BIT)])
    for name in ("072_Whistle_Long.pat", "038_Tom_Odd.pat"):  # a whistle; a tom's name on the snare key
        write_patch(drums / name, [dict(data=_decaying_noise(rng, 2000, 300.0).astype("<i2").tobytes(), rate=44100,
                                        root=261626, modes=MODE_16BIT)])
    tones = [rng.integers(-20000, 20000, 3000).astype(np.int16) for _ in range(3)]
    waves = [dict(data=tone.astype("<i2").tobytes(), rate=22050, root=root, loop_start=2000, loop_end=5000,
                  modes=MODE_16BIT | MODE_LOOPING) for tone, root in zip(tones, (440000, 110000, 1760000), strict=True)]
    write_patch(drums.parent / "Tone_000" / "000_Test_Piano.pat", waves)

    notes: list[str] = []
    entries = plan_corpus(tmp_path / "cache", ["freepats"], notes=notes)
    assert [(e.path, e.label) for e in entries if e.kind == "drum"] == [("freepats/drums/Bass Drum 1/036_Kick_X.wav",
                                                                         "kick")]
    assert any("072_Whistle_Long" in n and "no GM percussion key" in n for n in notes)
    assert any("038_Tom_Odd" in n and "its name says tom" in n for n in notes)
    melodic = sorted(e.origin.rsplit("#", 1)[1] for e in entries if e.kind == "non_drum")
    assert melodic == ["1", "2"]  # the lowest and the highest root of three

    build_corpus(tmp_path / "corpus", entries, tmp_path / "cache")
    pcm, rate = _wav_pcm((tmp_path / "corpus/freepats/drums/Bass Drum 1/036_Kick_X.wav").read_bytes())
    assert rate == 44100
    np.testing.assert_array_equal(pcm, kick)
    note = next(e for e in entries if e.origin.endswith("#1"))
    pcm, rate = _wav_pcm((tmp_path / "corpus" / note.path).read_bytes())
    assert rate == 22050 and len(pcm) == round(NOTE_SECONDS * 22050)
    np.testing.assert_array_equal(pcm[:2500], tones[1][:2500])
    np.testing.assert_array_equal(pcm[2500:4000], tones[1][1000:2500])  # the loop (points 1000-2500) played again


# STK rawwaves


def test_rawwave_is_big_endian_and_only_named_drums_are_kept(fake_packages, tmp_path):
    rng = np.random.default_rng(4)
    folder = fake_packages("stk") / real_corpus.SOURCES["stk"].root
    folder.mkdir(parents=True)
    snare = _decaying_noise(rng, 3000, 500.0)
    (folder / "snardrum.raw").write_bytes(snare.astype(">i2").tobytes())
    (folder / "sinewave.raw").write_bytes((np.sin(np.arange(256) / 40) * 30000).astype(">i2").tobytes())
    np.testing.assert_array_equal(read_rawwave(folder / "snardrum.raw"), snare)

    notes: list[str] = []
    entries = plan_corpus(tmp_path / "cache", ["stk"], notes=notes)
    assert [(e.path, e.label) for e in entries] == [("stk/drums/Snare/snardrum.wav", "snare")]
    assert any("sinewave.raw" in n for n in notes)
    build_corpus(tmp_path / "corpus", entries, tmp_path / "cache")
    pcm, rate = _wav_pcm((tmp_path / "corpus/stk/drums/Snare/snardrum.wav").read_bytes())
    assert rate == STK_RATE
    np.testing.assert_array_equal(pcm, snare)


# MIDI notes and fluidsynth


def _midi_events(data: bytes) -> tuple[tuple, list[tuple[int, bytes]]]:
    """(format, tracks, division) and the track's (absolute tick, event bytes)."""
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk"
    head = struct.unpack(">IHHH", data[4:14])[1:]
    track = data[22 : 22 + struct.unpack(">I", data[18:22])[0]]
    events, pos, tick = [], 0, 0
    while pos < len(track):
        delta = 0
        while True:
            byte = track[pos]
            pos += 1
            delta = (delta << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        tick += delta
        size = 3 + track[pos + 2] if track[pos] == 0xFF else 2 if track[pos] & 0xF0 == 0xC0 else 3
        events.append((tick, track[pos : pos + size]))
        pos += size
    return head, events


def test_midi_file_holds_the_note_then_the_tail():
    head, events = _midi_events(midi_render.note_midi_file(9, 25, 36, 127, hold_seconds=4.0, tail_seconds=3.0))
    assert head == (0, 1, midi_render.TICKS_PER_QUARTER)
    assert events[0] == (0, b"\xff\x51\x03" + midi_render.MICROSECONDS_PER_QUARTER.to_bytes(3, "big"))
    assert events[1:] == [(0, bytes([0xC9, 25])), (0, bytes([0x99, 36, 127])), (4000, bytes([0x89, 36, 0])),
                          (7000, bytes([0xB9, midi_render.CC_GENERAL_PURPOSE, 0])), (7000, b"\xff\x2f\x00")]
    _head, melodic = _midi_events(midi_render.note_midi_file(0, 73, 60, 100, 1.5, 0.3, bank=0))
    assert melodic[1] == (0, bytes([0xB0, 0, 0]))  # bank select before the program


def test_trim_tail_and_scaling():
    sound = np.concatenate([np.linspace(1.0, 0.01, 100), np.full(50, 1e-5)])
    assert len(midi_render.trim_tail(sound, -60.0)) == 100
    assert len(midi_render.trim_tail(np.zeros(10), -60.0)) == 0
    scaled = midi_render.to_int16(np.array([0.0, -0.5, 0.25]), 0.9)
    np.testing.assert_array_equal(scaled, [0, -29490, 14745])


@pytest.fixture
def tiny_rendered_font(tmp_path, monkeypatch):
    """The tiny SoundFont of test_real_corpus as a fake unpacked timgm6mb-soundfont."""
    rng = np.random.default_rng(5)
    samples = {"Kick A": _decaying_noise(rng, 2205, 300.0), "Snare B": _decaying_noise(rng, 3000, 600.0),
               "Flute C": rng.integers(-20000, 20000, 4410).astype(np.int16)}
    root = tmp_path / "package"
    font = root / real_corpus.SOURCES["timgm6mb"].root
    font.parent.mkdir(parents=True)
    write_tiny_soundfont(font, samples, loop=(2000, 4000))
    monkeypatch.setattr(real_corpus, "fetch_package", lambda name, cache_dir: (root, f"{name}=test"))
    return font


@needs_fluidsynth
def test_fluidsynth_renders_kit_keys_and_melodic_notes_the_same_every_time(tiny_rendered_font, tmp_path):
    first = real_corpus.rendered_note(tiny_rendered_font, 128, 0, 36, "drum")
    again = real_corpus.rendered_note(tiny_rendered_font, 128, 0, 36, "drum")
    np.testing.assert_array_equal(first, again)
    assert np.abs(first).max() == round(real_corpus.RENDER_PEAK * 32767)
    # 'Kick A' (0.1 s at its root key 60) played 24 semitones lower lasts about four times longer
    assert 0.2 < len(first) / midi_render.RENDER_RATE < 0.6

    entries = plan_corpus(tmp_path / "cache", ["timgm6mb"])
    drums = {e.path: e for e in entries if e.kind == "drum"}
    assert set(drums) == {"timgm6mb/drums/Bass Drum 1/Standard Kick A.wav",
                          "timgm6mb/drums/Acoustic Snare/Standard Snare B.wav"}
    assert drums["timgm6mb/drums/Bass Drum 1/Standard Kick A.wav"].origin.endswith("TimGM6mb.sf2#128:0:36")
    [note] = [e for e in entries if e.kind == "non_drum"]
    assert note.origin.endswith("#0:73:60") and note.path == "timgm6mb/non_drums/melodic/073 Flute/Flute C.wav"
    assert build_corpus(tmp_path / "corpus", entries, tmp_path / "cache") == []  # the same sha256 again
    pcm, rate = _wav_pcm((tmp_path / "corpus" / note.path).read_bytes())
    assert rate == midi_render.RENDER_RATE and len(pcm) <= round(NOTE_SECONDS * rate)


def test_rendered_source_without_fluidsynth_says_how_to_install_it(tiny_rendered_font, tmp_path, monkeypatch):
    monkeypatch.setattr(real_corpus.shutil, "which", lambda tool: None)
    with pytest.raises(CorpusError, match=r"fluidsynth not found.*apt-get install -y fluidsynth"):
        plan_corpus(tmp_path / "cache", ["timgm6mb"])


# Near duplicates


def test_the_same_recording_shifted_scaled_and_resampled_is_near_identical():
    rng = np.random.default_rng(6)
    hit = rng.normal(size=22050) * np.exp(-np.arange(22050) / 2000)
    original = fingerprint(hit, 22050)
    shifted = fingerprint(np.concatenate([np.zeros(300), 0.3 * hit]), 22050)
    resampled = fingerprint(np.interp(np.arange(44100) / 2, np.arange(22050), hit), 44100)
    assert similarity(original, shifted) > 0.99
    assert similarity(original, resampled) > 0.95
    assert fingerprint(np.zeros(100), 22050) is None


def test_two_takes_of_a_low_drum_are_not_near_identical():
    """Decaying 60 Hz sines line up almost perfectly; their attack noise, different from take to take, does not."""
    rng = np.random.default_rng(7)
    time = np.arange(11025) / 22050
    body = np.sin(2 * np.pi * 60 * time) * np.exp(-time / 0.15)
    takes = [body + rng.normal(0, 0.3, len(time)) * np.exp(-time / 0.01) for _ in range(2)]
    one, other = fingerprint(takes[0], 22050), fingerprint(takes[1], 22050)
    waveform_only = float(np.max(np.correlate(one[0], other[0], "full")))
    assert waveform_only > 0.9  # the waveform alone would call them the same
    assert similarity(one, other) < NEAR_IDENTICAL["drum"]


def test_index_finds_the_closest_sound():
    rng = np.random.default_rng(8)
    sounds = [rng.normal(size=8000) * np.exp(-np.arange(8000) / 900) for _ in range(3)]
    index = NearDuplicateIndex()
    assert index.closest(fingerprint(sounds[0], 8000)) == ("", 0.0)
    for number, sound in enumerate(sounds):
        index.add(f"s{number}", fingerprint(sound, 8000))
    name, score = index.closest(fingerprint(0.5 * sounds[1], 8000))
    assert name == "s1" and score > 0.99


def test_plan_leaves_out_a_drum_that_repeats_another_source(fake_packages, tmp_path):
    rng = np.random.default_rng(9)
    snare = _decaying_noise(rng, 4000, 700.0)
    stk = fake_packages("stk") / real_corpus.SOURCES["stk"].root
    stk.mkdir(parents=True)
    (stk / "snardrum.raw").write_bytes(snare.astype(">i2").tobytes())
    copy = np.concatenate([np.zeros(50, np.int16), (snare // 2).astype(np.int16)])  # later and quieter
    drums = fake_packages("freepats") / real_corpus.SOURCES["freepats"].root / "Drum_000"
    write_patch(drums / "038_Snare_Copy.pat", [dict(data=copy.astype("<i2").tobytes(), rate=STK_RATE, root=261626,
                                                    modes=MODE_16BIT)])
    write_patch(drums / "040_Snare_Other.pat", [dict(data=_decaying_noise(rng, 4000, 700.0).astype("<i2").tobytes(),
                                                     rate=STK_RATE, root=261626, modes=MODE_16BIT)])
    notes: list[str] = []
    entries = plan_corpus(tmp_path / "cache", ["stk", "freepats"], notes=notes)
    assert [e.path for e in entries] == ["stk/drums/Snare/snardrum.wav",
                                         "freepats/drums/Electric Snare/040_Snare_Other.wav"]
    assert any("038_Snare_Copy" in n and "near-identical to stk/drums/Snare/snardrum.wav" in n for n in notes)


def test_committed_truth_has_the_newer_sources_and_their_licences():
    entries = real_corpus.read_truth(real_corpus.DEFAULT_TRUTH_PATH)
    drums = [e for e in entries if e.kind == "drum"]
    assert {"freepats", "stk", "timgm6mb", "csound"} <= {e.source for e in drums}
    assert len({e.source for e in drums}) >= 8 and len({e.sha256 for e in drums}) >= 380
    assert all(source.licence for source in real_corpus.SOURCES.values())
    rendered = [e for e in entries if real_corpus.SOURCES[e.source].kind == "rendered"]
    assert rendered and all(":" in e.origin.rsplit("#", 1)[1] for e in rendered)


# DrumSynth presets


def _preset(*sections: str) -> str:
    return "\r\n".join(["[General]", "Version=DrumSynth v2.0", *sections]) + "\r\n"


def test_drumsynth_presets_are_labelled_by_name_and_kit_and_rendered(fake_packages, tmp_path):
    folder = fake_packages("lmms-common") / real_corpus.SOURCES["drumsynth"].root
    tone = ["[Tone]", "On=1", "Level=128", "F1=200", "F2=50", "Envelope=0,100 8000,0"]
    noise = ["[Noise]", "On=1", "Level=128", "Envelope=0,100 3000,0"]
    for rel, sections in {"tr808/Kick.ds": tone, "misc_hats/hh.ds": noise,
                          "misc_fx/zap.ds": [*tone[:3], "F1=900", "F2=2000", tone[-1]], "misc/thing.ds": tone,
                          "misc/quiet_kick.ds": ["[Tone]", "On=1", "Level=0", "Envelope=0,100 8000,0"]}.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(_preset(*sections))
    notes: list[str] = []
    entries = plan_corpus(tmp_path / "cache", ["drumsynth"], notes=notes)
    assert sorted((e.path, e.kind, e.label) for e in entries) == [
        ("drumsynth/drums/misc_hats/hh.wav", "drum", "hihat"),
        ("drumsynth/drums/tr808/Kick.wav", "drum", "kick"),
        ("drumsynth/non_drums/fx/misc_fx/zap.wav", "non_drum", "non_drum")]
    assert any("thing.ds: unlabelled" in n for n in notes) and any("quiet_kick.ds: renders as silence" in n for n in notes)
    build_corpus(tmp_path / "corpus", entries, tmp_path / "cache")
    pcm, rate = _wav_pcm((tmp_path / "corpus/drumsynth/drums/tr808/Kick.wav").read_bytes())
    assert rate == real_corpus.DRUMSYNTH_RATE and 7000 <= len(pcm) <= 12000
    assert abs(int(np.abs(pcm).max()) - round(real_corpus.RENDER_PEAK * 32767)) <= 1
