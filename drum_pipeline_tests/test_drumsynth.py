"""The DrumSynth (.ds) renderer on presets written here: pitch and length of a tone, broadband noise,
defaults for what a preset leaves out, the reference's reading quirks, and refusal of what is not a preset."""

import random

import numpy as np
import pytest

from drum_pipeline.real_sounds.drumsynth import DrumSynthError, read_preset, render_preset

RATE = 44100


def _preset(*sections: str, general: str = "") -> str:
    """A preset text: [General] (a version, then `general`), then the sections, CRLF line ends as DrumSynth writes."""
    text = f"[General]\nVersion=DrumSynth v2.0\nComment=written by the test\n{general}\n" + "\n".join(sections)
    return text.replace("\n", "\r\n")


def _tone(f1=440, f2=440, envelope="0,100 22050,100 22051,0", level=128, droop=0, phase=0) -> str:
    return f"[Tone]\nOn=1\nLevel={level}\nF1={f1}\nF2={f2}\nDroop={droop}\nPhase={phase}\nEnvelope={envelope}\n"


def _peak_hz(samples: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def _last_sound(samples: np.ndarray) -> int:
    return int(np.nonzero(np.abs(samples) > 1e-3)[0][-1]) + 1


def test_a_pure_tone_has_its_frequency_level_and_envelope_length():
    audio = render_preset(_preset(_tone()))
    assert audio.dtype == np.float32 and audio.ndim == 1
    # the reference's length: whole 1200-sample blocks, two past the envelope's last block
    assert len(audio) == 2400 + 1200 * (22051 // 1200)
    assert abs(_last_sound(audio) - 22051) <= 2
    assert abs(_peak_hz(audio[:22050]) - 440) < 3
    assert np.max(np.abs(audio)) == pytest.approx(128 * 128 / 32768, rel=1e-3)  # Level 128 -> 16384 of 32768
    assert not np.any(audio[22060:])


def test_the_envelope_is_in_samples_at_44k_scaled_by_stretch_and_the_rate():
    base = render_preset(_preset(_tone()), 22050)
    assert abs(_last_sound(base) - 22051 / 2) <= 2  # same seconds at half the rate
    assert abs(_peak_hz(base[:11000], 22050) - 440) < 3
    stretched = render_preset(_preset(_tone(), general="Stretch=200\n"))
    assert abs(_last_sound(stretched) - 2 * 22051) <= 3
    assert abs(_peak_hz(stretched[:44100]) - 440) < 3


GOLDEN = _preset(
    _tone(f1=320, f2=60, envelope="0,0 120,100 3000,60 16000,0", level=120, droop=40, phase=45),
    "[Overtones]\nOn=1\nLevel=90\nF1=410\nF2=1230\nMethod=1\nParam=60\nWave1=2\nWave2=0\nTrack1=1\n"
    "Envelope1=0,100 6000,40 14000,0\nEnvelope2=0,100 9000,0\n",
    "[Distortion]\nOn=1\nClipping=6\nBits=0\nRate=1\n",
    general="Tuning=2\nStretch=80\nLevel=-3\nFilter=1\nResonance=40\nFilterEnv=0,90 8000,30 20000,60\n",
)
# 16-bit samples LMMS's DrumSynth.cpp (compiled on its own) wrote for GOLDEN: tone with droop, FM overtones
# tracking it, the resonant filter on everything, rate reduction
GOLDEN_SAMPLES = {0: 7062, 50: 3410, 333: -5568, 1000: -10194, 2500: 4482, 4321: 1322, 7000: -1712, 9999: 1201, 12345: -489}


def test_a_preset_without_noise_renders_as_the_reference_does():
    audio = render_preset(GOLDEN)
    assert len(audio) == 14400
    for index, value in GOLDEN_SAMPLES.items():
        assert audio[index] * 32768 == pytest.approx(value, abs=2)
    assert np.abs(audio * 32768).sum() == pytest.approx(58513360, rel=1e-4)


def test_a_sweep_falls_from_f1_to_f2_over_the_envelope():
    audio = render_preset(_preset(_tone(f1=1000, f2=250, envelope="0,100 44100,100 44101,0")))
    early, late = _peak_hz(audio[:4096]), _peak_hz(audio[40000:44096])
    assert 850 < early < 1000 and 250 < late < 330


def test_levels_ramp_between_envelope_points():
    audio = render_preset(_preset(_tone(f1=2205, f2=2205, envelope="0,0 10000,100 20000,0")))
    peaks = [np.max(np.abs(audio[i : i + 200])) for i in (2400, 4900, 9800, 14900, 19600)]
    expected = [0.5 * level for level in (0.24, 0.49, 0.98, 0.51, 0.04)]
    assert peaks == pytest.approx(expected, abs=0.02)


def test_noise_is_broadband_and_seeded():
    noise = "[Noise]\nOn=1\nLevel=100\nSlope=0\nEnvelope=0,100 20000,100 20001,0\n"
    audio = render_preset(_preset(noise))
    body = audio[:20000]
    spectrum = np.abs(np.fft.rfft(body)) ** 2
    bands = np.array_split(spectrum[1:], 8)
    shares = np.array([band.sum() for band in bands]) / spectrum[1:].sum()
    assert shares.min() > 0.08  # white: every eighth of the spectrum holds its share
    flatness = np.exp(np.mean(np.log(spectrum[1:] + 1e-12))) / np.mean(spectrum[1:])
    assert flatness > 0.4
    assert np.array_equal(audio, render_preset(_preset(noise)))
    other = render_preset(_preset(noise), seed=1)
    assert not np.array_equal(audio, other)
    assert np.std(other[:20000]) == pytest.approx(np.std(body), rel=0.05)


def test_noise_slope_tilts_the_spectrum():
    def high_share(slope: int) -> float:
        noise = f"[Noise]\nOn=1\nLevel=100\nSlope={slope}\nEnvelope=0,100 20000,100 20001,0\n"
        spectrum = np.abs(np.fft.rfft(render_preset(_preset(noise))[:20000])) ** 2
        return float(spectrum[len(spectrum) // 2 :].sum() / spectrum.sum())

    assert high_share(-100) < 0.05 < 0.3 < high_share(0) < 0.7 < high_share(100)


def test_a_noise_band_centres_on_its_frequency():
    band = "[NoiseBand]\nOn=1\nLevel=128\nF=3000\ndF=30\nEnvelope=0,100 20000,100 20001,0\n"
    audio = render_preset(_preset(band))[:20000]
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    near = spectrum[(freqs > 2000) & (freqs < 4000)].sum() / spectrum.sum()
    assert near > 0.8 and abs(_peak_hz(audio) - 3000) < 500


def test_overtones_mix_two_oscillators():
    overtones = ("[Overtones]\nOn=1\nLevel=128\nF1=300\nF2=1700\nMethod=0\nParam=50\nWave1=0\nWave2=0\n"
                 "Envelope1=0,100 20000,100 20001,0\nEnvelope2=0,100 20000,100 20001,0\n")
    audio = render_preset(_preset(overtones))[:20000]
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    strongest = sorted(freqs[np.argsort(spectrum)[-2:]])
    assert strongest[0] == pytest.approx(300, abs=5) and strongest[1] == pytest.approx(1700, abs=5)


def test_distortion_reduces_the_rate_in_steps():
    distortion = "[Distortion]\nOn=1\nClipping=0\nBits=0\nRate=6\n"  # Rate 6 holds every 20 samples
    audio = render_preset(_preset(_tone(f1=100, f2=100), distortion))
    held = audio[:22000].reshape(-1, 20)
    assert np.all(held == held[:, :1])
    assert len(np.unique(audio[:22000])) > 100


def test_missing_sections_and_keys_take_the_references_defaults():
    preset = read_preset(_preset("[Tone]\nOn=1\nEnvelope=0,100 22050,100 22051,0\n"))
    assert preset["Tone"]["F1"] == 200.0 and preset["Tone"]["F2"] == 120.0 and preset["Tone"]["Level"] == 128
    assert preset["Tone"]["Phase"] == 90.0 and preset["General"]["Stretch"] == 100.0
    assert preset["Noise"]["Level"] == 0 and preset["Overtones"]["Method"] == 2
    assert preset["NoiseBand2"]["F"] == 1000.0 and preset["NoiseBand2"]["dF"] == 50
    assert preset["Distortion"]["On"] == 0 and preset["General"]["FilterEnv"] == [(0.0, 0.0), (100.0, 0.0)]
    audio = render_preset(_preset("[Tone]\nOn=1\nEnvelope=0,100 22050,100 22051,0\n"))
    assert 120 <= _peak_hz(audio[:22050]) <= 200  # the default 200 -> 120 Hz sweep
    silent = render_preset(_preset())
    assert len(silent) == 2400 and not np.any(silent)


def test_sections_and_keys_are_found_whatever_their_case():
    canonical = _preset(_tone(f1=660, f2=660))
    shouting = ("[general]\nVERSION=drumsynth V1.0\n[TONE]\non=1\nlevel=128\nf1=660\nF2=660\nphase=0\n"
                "ENVELOPE=0,100 22050,100 22051,0\n")
    assert read_preset(shouting)["Tone"] == read_preset(canonical)["Tone"]
    assert np.array_equal(render_preset(shouting), render_preset(canonical))


def test_envelope_points_are_read_as_the_reference_reads_them():
    envelope = read_preset(_preset(_tone(envelope="0,100 442,30 1000,0")))["Tone"]["Envelope"]
    assert envelope == [(0.0, 100.0), (442.0, 30.0), (1000.0, 0.0)]
    # a doubled space repeats the last level in a point whose time was never set (zero)
    doubled = read_preset(_preset(_tone(envelope="0,100  1000,0")))["Tone"]["Envelope"]
    assert doubled == [(0.0, 100.0), (0.0, 100.0), (1000.0, 0.0)]
    # trailing blanks are trimmed (as DrumSynth and LMMS 1.2 do): the same sound
    trailing = _preset(_tone()).replace("22051,0", "22051,0 \t")
    assert np.array_equal(render_preset(trailing), render_preset(_preset(_tone())))


def test_a_line_past_the_references_buffer_ends_the_search_in_its_section():
    long_comment = "x" * 250
    preset = read_preset(_preset(f"[Tone]\nOn=1\nNote={long_comment}\nF1=440\n"))
    assert preset["Tone"]["On"] == 1 and preset["Tone"]["F1"] == 200.0  # F1 after the long line: default


@pytest.mark.parametrize(
    "text",
    [
        "",
        "just some words\nnot an ini file",
        "\x00\x01\x02\xff" * 100,
        "[General]\nComment=no version\n[Tone]\nOn=1\n",
        "[General]\nVersion=DrumSynth v3.0\n",
        "[General]\nVersion=SomethingElse v2.0\n",
    ],
    ids=["empty", "prose", "binary", "no version", "version 3", "other program"],
)
def test_what_is_not_a_preset_raises_a_drumsynth_error(text):
    with pytest.raises(DrumSynthError):
        render_preset(text)
    with pytest.raises(ValueError):  # DrumSynthError is a ValueError
        read_preset(text.encode("latin-1"))


ODD = _preset(
    _tone(f1="nan", f2="inf", envelope="0,100 -5,20 abc,0"),
    "[Overtones]\nOn=1\nMethod=3\nF1=0\nF2=-40\nEnvelope1=0,100 5000,0\nEnvelope2=0,100 5000,0\n",
    "[NoiseBand]\nOn=1\nF=-1000\ndF=400\nEnvelope=0,100 3000,0\n",
    "[Distortion]\nOn=1\nBits=2000\nRate=-3\nClipping=99\n",
)
BUSY = _preset(
    _tone(),
    "[Noise]\nOn=1\nLevel=90\nSlope=-30\nEnvelope=0,100 3000,0\n",
    "[NoiseBand]\nOn=1\nF=2000\ndF=60\nEnvelope=0,100 3000,0\n",
    "[Overtones]\nOn=1\nMethod=3\nF1=500\nF2=800\nEnvelope1=0,100 5000,0\nEnvelope2=0,100 5000,0\n",
    "[Distortion]\nOn=1\nBits=3\nRate=4\nClipping=10\n",
    general="Filter=1\nResonance=50\nHighPass=1\nFilterEnv=0,20 5000,90\n",
)


@pytest.mark.parametrize("text", [ODD, _preset(_tone(), general="Tuning=1e60\nResonance=-4\n")], ids=["odd", "overflow"])
def test_odd_values_render_without_crashing(text):
    audio = render_preset(text)
    assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0


def test_damaged_presets_render_or_raise_a_drumsynth_error():
    rnd = random.Random(7)
    for _ in range(30):
        text = list(rnd.choice([BUSY, GOLDEN]))
        for _ in range(rnd.randint(1, 12)):
            at = rnd.randrange(len(text))
            text[at : at + rnd.randint(0, 2)] = rnd.choice("0123456789-+.,= e[]\r\n\t\0nax") * rnd.randint(0, 4)
        try:
            audio = render_preset("".join(text), max_seconds=2)
        except DrumSynthError:
            continue
        assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0


def test_a_preset_longer_than_the_limit_is_refused():
    with pytest.raises(DrumSynthError, match="would render"):
        render_preset(_preset(_tone(envelope="0,100 99999999,0")))
    with pytest.raises(DrumSynthError):
        render_preset(_preset(_tone()), sample_rate=0)
