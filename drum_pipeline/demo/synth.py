"""A small drum synthesizer: one-shots for every fine label, and non-drum material.

Each voice draws its pitch, decay, noise colour, body/noise mix, drive and room from the
random generator it is given, so that classes overlap the way real ones do (a low tom and a
high kick, a short crash and an open hat). Used for the demo data and the tests.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import fft as sfft

Voice = Callable[[np.random.Generator, int], np.ndarray]


def _t(seconds: float, sr: int) -> np.ndarray:
    return np.arange(int(seconds * sr)) / sr


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    return np.pad(x, (0, max(0, n - len(x))))[:n]


def _env(t: np.ndarray, decay: float, attack: float = 0.001) -> np.ndarray:
    rise = np.clip(t / max(attack, 1e-4), 0.0, 1.0)
    return rise * np.exp(-t / max(decay, 1e-3))


def _filter(x: np.ndarray, sr: float, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a zero-phase gain(frequency in Hz) in the frequency domain (padded to a fast FFT length)."""
    n = sfft.next_fast_len(len(x), real=True)
    spectrum = sfft.rfft(x, n) * gain(sfft.rfftfreq(n, 1.0 / sr))
    return sfft.irfft(spectrum, n)[: len(x)]


def _coloured_noise(rng: np.random.Generator, n: int, tilt: float) -> np.ndarray:
    """Noise whose spectrum falls (tilt < 0, darker) or rises (tilt > 0, brighter) in dB/octave."""
    out = _filter(rng.standard_normal(n), 1.0, lambda f: (np.maximum(f, 1e-4) / 0.05) ** (tilt / 6.02))
    return out / (np.max(np.abs(out)) + 1e-9)


def _band(x: np.ndarray, sr: int, low: float, high: float) -> np.ndarray:
    return _filter(x, sr, lambda f: ((f >= low) & (f <= high)).astype(float))


def _sweep(t: np.ndarray, sr: int, f_start: float, f_end: float, rate: float) -> np.ndarray:
    freq = f_end + (f_start - f_end) * np.exp(-t / rate)
    return np.sin(2 * np.pi * np.cumsum(freq) / sr)


def _metal(rng: np.random.Generator, t: np.ndarray, base: float) -> np.ndarray:
    """808-style metallic cluster: six square waves at inharmonic ratios."""
    ratios = np.array([1.0, 1.48, 1.65, 2.03, 2.42, 2.92]) * rng.uniform(0.9, 1.1, 6)
    phases = rng.uniform(0, 1, 6)
    return np.sum([np.sign(np.sin(2 * np.pi * (base * r * t + p))) for r, p in zip(ratios, phases, strict=True)], axis=0) / 6


def _partials(rng: np.random.Generator, t: np.ndarray, base: float, ratios, decay: float) -> np.ndarray:
    out = np.zeros_like(t)
    for i, r in enumerate(ratios):
        out += np.sin(2 * np.pi * base * r * rng.uniform(0.99, 1.01) * t) * np.exp(-t * (1 + i * 0.5) / decay)
    return out / len(ratios)


def kick(rng, sr):
    t = _t(rng.uniform(0.35, 0.9), sr)
    body = _sweep(t, sr, rng.uniform(110, 260), rng.uniform(38, 70), rng.uniform(0.015, 0.05))
    click = _coloured_noise(rng, len(t), rng.uniform(-3, 3)) * _env(t, rng.uniform(0.002, 0.008))
    return body * _env(t, rng.uniform(0.08, 0.35)) + rng.uniform(0.05, 0.4) * click


def snare(rng, sr, wires=(0.3, 0.8), decay=(0.08, 0.25)):
    t = _t(rng.uniform(0.25, 0.6), sr)
    tone = _sweep(t, sr, rng.uniform(220, 330), rng.uniform(160, 220), 0.02) * _env(t, rng.uniform(0.03, 0.09))
    noise = _band(_coloured_noise(rng, len(t), rng.uniform(-3, 2)), sr, rng.uniform(800, 2000), 12000)
    noise = noise / (np.max(np.abs(noise)) + 1e-9) * _env(t, rng.uniform(*decay))
    return (1 - rng.uniform(*wires)) * tone + rng.uniform(*wires) * noise


def rimshot(rng, sr):
    t = _t(rng.uniform(0.15, 0.35), sr)
    ping = np.sin(2 * np.pi * rng.uniform(400, 900) * t) * _env(t, rng.uniform(0.01, 0.04))
    return 0.6 * ping + 0.5 * _fit(snare(rng, sr, (0.2, 0.5), (0.02, 0.06)), len(t))


def sidestick(rng, sr):
    t = _t(rng.uniform(0.08, 0.2), sr)
    wood = _band(_coloured_noise(rng, len(t), 0), sr, 800, 3000)
    wood /= np.max(np.abs(wood)) + 1e-9
    return (0.6 * np.sin(2 * np.pi * rng.uniform(500, 1100) * t) + 0.6 * wood) * _env(t, rng.uniform(0.008, 0.025))


def _hat(rng, sr, decay, length):
    t = _t(length, sr)
    metal = _metal(rng, t, rng.uniform(280, 420))
    noise = _coloured_noise(rng, len(t), rng.uniform(0, 4))
    mix = rng.uniform(0.3, 0.8)
    sig = _band(mix * metal + (1 - mix) * noise, sr, rng.uniform(5000, 8000), sr / 2)
    return sig / (np.max(np.abs(sig)) + 1e-9) * _env(t, decay)


def hihat_closed(rng, sr):
    return _hat(rng, sr, rng.uniform(0.015, 0.06), rng.uniform(0.1, 0.3))


def hihat_open(rng, sr):
    return _hat(rng, sr, rng.uniform(0.2, 0.6), rng.uniform(0.6, 1.4))


def hihat_pedal(rng, sr):
    t = _t(rng.uniform(0.12, 0.3), sr)
    chick = _band(_coloured_noise(rng, len(t), 1), sr, 3000, 9000)
    chick /= np.max(np.abs(chick)) + 1e-9
    hat = _fit(_hat(rng, sr, rng.uniform(0.03, 0.08), len(t) / sr), len(t))
    return 0.6 * hat + 0.4 * chick * _env(t, 0.02, 0.004)


def _cymbal(rng, sr, decay, length, low, brightness):
    t = _t(length, sr)
    metal = _metal(rng, t, rng.uniform(300, 550))
    noise = _coloured_noise(rng, len(t), brightness)
    sig = _band(0.5 * metal + noise, sr, low, sr / 2)
    return sig / (np.max(np.abs(sig)) + 1e-9) * _env(t, decay, rng.uniform(0.001, 0.01))


def crash(rng, sr):
    return _cymbal(rng, sr, rng.uniform(0.6, 1.6), rng.uniform(1.5, 3.0), rng.uniform(2000, 4000), rng.uniform(-1, 2))


def splash(rng, sr):
    return _cymbal(rng, sr, rng.uniform(0.25, 0.5), rng.uniform(0.8, 1.4), rng.uniform(3500, 5500), rng.uniform(0, 3))


def china(rng, sr):
    return np.tanh(3 * crash(rng, sr)) * 0.8


def ride(rng, sr):
    t = _t(rng.uniform(1.5, 3.0), sr)
    ping = _partials(rng, t, rng.uniform(2500, 4500), [1, 1.33, 1.79], rng.uniform(0.3, 0.8))
    wash = _cymbal(rng, sr, rng.uniform(0.8, 2.0), len(t) / sr, 3000, rng.uniform(-1, 1))
    return 0.5 * ping + 0.5 * _fit(wash, len(t))


def ride_bell(rng, sr):
    t = _t(rng.uniform(1.0, 2.5), sr)
    bell = _partials(rng, t, rng.uniform(700, 1300), [1, 2.41, 3.93, 5.4], rng.uniform(0.5, 1.2))
    wash = _cymbal(rng, sr, 0.8, len(t) / sr, 3000, 0)
    return 0.8 * bell + 0.2 * _fit(wash, len(t))


def _membrane(rng, sr, f_low, f_high, decay, slap=0.15, bend=0.03):
    t = _t(max(4 * decay, 0.2), sr)
    f0 = rng.uniform(f_low, f_high)
    body = _sweep(t, sr, f0 * (1 + rng.uniform(0.1, 0.5)), f0, rng.uniform(0.01, bend))
    overtone = np.sin(2 * np.pi * f0 * rng.uniform(1.5, 1.6) * t) * _env(t, decay / 3)
    hit = _coloured_noise(rng, len(t), 1) * _env(t, 0.004)
    return (body + 0.3 * overtone) * _env(t, decay) + rng.uniform(0.5, 1.5) * slap * hit


def tom_high(rng, sr):
    return _membrane(rng, sr, 170, 260, rng.uniform(0.12, 0.3))


def tom_mid(rng, sr):
    return _membrane(rng, sr, 120, 180, rng.uniform(0.15, 0.35))


def tom_low(rng, sr):
    return _membrane(rng, sr, 70, 125, rng.uniform(0.2, 0.45))


def conga(rng, sr):
    return _membrane(rng, sr, 190, 350, rng.uniform(0.08, 0.2), slap=0.3)


def bongo(rng, sr):
    return _membrane(rng, sr, 330, 600, rng.uniform(0.05, 0.12), slap=0.3)


def djembe(rng, sr):
    return _membrane(rng, sr, 90, 300, rng.uniform(0.08, 0.25), slap=0.6)


def tabla(rng, sr):
    return _membrane(rng, sr, 250, 550, rng.uniform(0.15, 0.4), slap=0.2, bend=0.12)


def timbale(rng, sr):
    t = _t(rng.uniform(0.3, 0.7), sr)
    ring = _partials(rng, t, rng.uniform(350, 650), [1, 1.6, 2.3], rng.uniform(0.1, 0.3))
    return ring + 0.3 * _coloured_noise(rng, len(t), 1) * _env(t, 0.01)


def cajon(rng, sr):
    t = _t(rng.uniform(0.25, 0.5), sr)
    thump = _sweep(t, sr, rng.uniform(120, 180), rng.uniform(60, 90), 0.02) * _env(t, rng.uniform(0.05, 0.15))
    rattle = _band(_coloured_noise(rng, len(t), 0), sr, 1500, 7000)
    return thump + rng.uniform(0.1, 0.4) * rattle / (np.max(np.abs(rattle)) + 1e-9) * _env(t, 0.05)


def _burst_noise(rng, sr, length, low, high, attack, decay):
    t = _t(length, sr)
    sig = _band(_coloured_noise(rng, len(t), rng.uniform(0, 3)), sr, low, high)
    return sig / (np.max(np.abs(sig)) + 1e-9) * _env(t, decay, attack)


def clap(rng, sr):
    t = _t(rng.uniform(0.3, 0.6), sr)
    out = np.zeros(len(t))
    for i in range(rng.integers(3, 6)):
        start = int(sr * i * rng.uniform(0.008, 0.014))
        burst = _burst_noise(rng, sr, len(t) / sr, 700, 3000, 0.001, 0.008 if i < 3 else rng.uniform(0.05, 0.15))
        out[start:] += _fit(burst, len(t) - start)
    return out


def snap(rng, sr):
    return _burst_noise(rng, sr, rng.uniform(0.1, 0.25), 1500, 6000, 0.0005, rng.uniform(0.01, 0.03))


def shaker(rng, sr):
    return _burst_noise(rng, sr, rng.uniform(0.15, 0.35), 4000, 14000, rng.uniform(0.02, 0.06), rng.uniform(0.03, 0.08))


def maraca(rng, sr):
    return _burst_noise(rng, sr, rng.uniform(0.1, 0.25), 3000, 11000, rng.uniform(0.005, 0.02), rng.uniform(0.02, 0.05))


def cabasa(rng, sr):
    return _burst_noise(rng, sr, rng.uniform(0.15, 0.3), 5000, 15000, rng.uniform(0.01, 0.03), rng.uniform(0.04, 0.1))


def tambourine(rng, sr):
    t = _t(rng.uniform(0.3, 0.7), sr)
    jingles = _partials(rng, t, rng.uniform(5000, 8000), [1, 1.13, 1.41, 1.77], rng.uniform(0.08, 0.2))
    return jingles + 0.5 * _fit(shaker(rng, sr), len(t))


def cowbell(rng, sr):
    t = _t(rng.uniform(0.2, 0.5), sr)
    f0 = rng.uniform(500, 600)
    tone = np.sign(np.sin(2 * np.pi * f0 * t)) + np.sign(np.sin(2 * np.pi * f0 * 1.48 * t))
    return _band(tone, sr, 400, 4000) * _env(t, rng.uniform(0.05, 0.15))


def clave(rng, sr):
    t = _t(rng.uniform(0.1, 0.25), sr)
    return np.sin(2 * np.pi * rng.uniform(2000, 2800) * t) * _env(t, rng.uniform(0.015, 0.04))


def woodblock(rng, sr):
    t = _t(rng.uniform(0.1, 0.3), sr)
    return _partials(rng, t, rng.uniform(700, 1500), [1, 2.7], rng.uniform(0.02, 0.06))


def triangle(rng, sr):
    t = _t(rng.uniform(1.0, 2.5), sr)
    return _partials(rng, t, rng.uniform(3500, 5500), [1, 2.76, 5.4], rng.uniform(0.5, 1.5))


def agogo(rng, sr):
    t = _t(rng.uniform(0.3, 0.8), sr)
    return _partials(rng, t, rng.uniform(600, 1100), [1, 2.4, 3.1], rng.uniform(0.15, 0.4))


def guiro(rng, sr):
    t = _t(rng.uniform(0.2, 0.5), sr)
    scrape = (np.sin(2 * np.pi * rng.uniform(30, 60) * t) > 0.6).astype(float)
    noise = _band(_coloured_noise(rng, len(t), 1), sr, 1500, 8000)
    return scrape * noise * _env(t, 0.3, 0.05)


DRUM_VOICES: dict[str, Voice] = {
    "kick": kick,
    "snare": snare,
    "rimshot": rimshot,
    "sidestick": sidestick,
    "hihat_closed": hihat_closed,
    "hihat_open": hihat_open,
    "hihat_pedal": hihat_pedal,
    "crash": crash,
    "ride": ride,
    "ride_bell": ride_bell,
    "splash": splash,
    "china": china,
    "tom_high": tom_high,
    "tom_mid": tom_mid,
    "tom_low": tom_low,
    "clap": clap,
    "snap": snap,
    "cowbell": cowbell,
    "clave": clave,
    "conga": conga,
    "bongo": bongo,
    "djembe": djembe,
    "tabla": tabla,
    "timbale": timbale,
    "cajon": cajon,
    "shaker": shaker,
    "maraca": maraca,
    "cabasa": cabasa,
    "tambourine": tambourine,
    "triangle": triangle,
    "woodblock": woodblock,
    "agogo": agogo,
    "guiro": guiro,
}


# Non-drum material: must never land in a drum class.
def drum_loop(rng, sr):
    bpm = rng.uniform(85, 140)
    step = 60.0 / bpm / 4
    length = 16 * step
    out = np.zeros(int(length * sr) + sr)
    pattern = {0: kick, 4: snare, 8: kick, 12: snare}
    for i in range(16):
        voice = pattern.get(i, hihat_closed)
        hit = voice(rng, sr)
        start = int(i * step * sr)
        out[start:] += _fit(hit, len(out) - start)
    return out[: int(length * sr)]


def fx_sweep(rng, sr):
    t = _t(rng.uniform(1.5, 3.0), sr)
    up = rng.random() < 0.5
    f0, f1 = (200, 8000) if up else (8000, 200)
    noise = _coloured_noise(rng, len(t), 0)
    tone = np.sin(2 * np.pi * np.cumsum(np.geomspace(f0, f1, len(t))) / sr)
    env = np.linspace(0.2, 1, len(t)) if up else np.linspace(1, 0.05, len(t))
    return (0.6 * tone + 0.4 * noise) * env


def bass_shot(rng, sr):
    t = _t(rng.uniform(0.8, 1.6), sr)
    f0 = rng.uniform(40, 110)
    saw = 2 * ((f0 * t) % 1.0) - 1
    return (0.6 * np.sin(2 * np.pi * f0 * t) + 0.4 * saw) * _env(t, rng.uniform(0.6, 1.5), 0.01)


def melodic_shot(rng, sr):
    t = _t(rng.uniform(0.8, 2.0), sr)
    root = rng.uniform(180, 700)
    chord = [1.0, 1.26, 1.5] if rng.random() < 0.5 else [1.0]
    sig = sum(_partials(rng, t, root * c, [1, 2, 3, 4], rng.uniform(0.4, 1.2)) for c in chord)
    return sig * _env(t, 5.0, rng.uniform(0.005, 0.05))


def vocal_shot(rng, sr):
    t = _t(rng.uniform(0.6, 1.2), sr)
    f0 = rng.uniform(110, 260)
    vibrato = 1 + 0.01 * np.sin(2 * np.pi * 5.5 * t)
    pulse = 2 * ((np.cumsum(f0 * vibrato) / sr) % 1.0) - 1
    formants = _band(pulse, sr, 300, 900) + 0.6 * _band(pulse, sr, 1100, 1400)
    return formants * np.minimum(1, t / 0.05) * np.minimum(1, (t[-1] - t) / 0.1)


NON_DRUM_VOICES: dict[str, Voice] = {
    "loop": drum_loop,
    "fx": fx_sweep,
    "bass": bass_shot,
    "melodic": melodic_shot,
    "vocal": vocal_shot,
}


def sustained_tone(rng, sr):
    t = _t(rng.uniform(0.5, 3.0), sr)
    f0 = rng.uniform(55, 1500)
    shape = rng.integers(3)
    phase = (f0 * t) % 1.0
    wave = np.sin(2 * np.pi * phase) if shape == 0 else (2 * phase - 1 if shape == 1 else np.sign(phase - 0.5))
    return wave * np.minimum(1, t / rng.uniform(0.005, 0.3)) * np.exp(-t / rng.uniform(1.0, 6.0))


def noise_bed(rng, sr):
    t = _t(rng.uniform(1.0, 4.0), sr)
    noise = _band(_coloured_noise(rng, len(t), rng.uniform(-6, 3)), sr, rng.uniform(40, 500), rng.uniform(2000, 11000))
    return noise * np.minimum(1, t / rng.uniform(0.05, 0.8)) * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.2, 3) * t))


def pad_chord(rng, sr):
    t = _t(rng.uniform(1.0, 3.0), sr)
    root = rng.uniform(100, 500)
    sig = sum(_partials(rng, t, root * ratio, [1, 2, 3], 4.0) for ratio in (1.0, 1.19, 1.5, 2.0)[: rng.integers(2, 5)])
    return sig * np.minimum(1, t / rng.uniform(0.1, 0.6))


def short_loop(rng, sr):
    """A bar fragment: a few hits of random drum voices, an eighth or a sixteenth apart."""
    step = 60.0 / rng.uniform(80, 170) / rng.choice([2, 4])
    hits = int(rng.integers(4, 9))
    out = np.zeros(int((hits * step + 0.3) * sr))
    names = list(DRUM_VOICES)
    for i in range(hits):
        hit = DRUM_VOICES[names[int(rng.integers(len(names)))]](rng, sr)
        start = int(i * step * sr)
        out[start:] += _fit(hit, len(out) - start) * rng.uniform(0.5, 1.0)
    return out


# More negatives for learning what is not a drum one-shot (not used by the demo folders).
TRAINING_NEGATIVES: dict[str, Voice] = {**NON_DRUM_VOICES, "tone": sustained_tone, "noise_bed": noise_bed,
                                        "pad": pad_chord, "short_loop": short_loop}


def colour(x: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Production character: EQ tilt, drive, room, gain; peak between -12 and -0.3 dBFS."""
    x = np.asarray(x, dtype=np.float64)
    x = x / (np.max(np.abs(x)) + 1e-9)
    tilt = rng.uniform(-2, 2)
    x = _filter(x, sr, lambda f: (np.maximum(f, 20.0) / 1000.0) ** (tilt / 6.02))
    x /= np.max(np.abs(x)) + 1e-9
    if rng.random() < 0.3:
        drive = rng.uniform(1.5, 6)
        x = np.tanh(drive * x) / np.tanh(drive)
    if rng.random() < 0.4:
        tail = _t(rng.uniform(0.1, 0.5), sr)
        ir = rng.standard_normal(len(tail)) * np.exp(-tail / rng.uniform(0.03, 0.15))
        n = sfft.next_fast_len(len(x) + len(ir), real=True)
        wet = sfft.irfft(sfft.rfft(x, n) * sfft.rfft(ir, n), n)[: len(x) + len(ir)]
        wet /= np.max(np.abs(wet)) + 1e-9
        dry = np.pad(x, (0, len(ir)))
        x = dry + rng.uniform(0.1, 0.4) * wet
    x += rng.uniform(0, 0.003) * rng.standard_normal(len(x))
    peak_db = rng.uniform(-12, -0.3)
    return (x / (np.max(np.abs(x)) + 1e-9) * 10 ** (peak_db / 20)).astype(np.float32)


def render(name: str, rng: np.random.Generator, sr: int) -> np.ndarray:
    """One coloured sound of the fine label or non-drum kind `name`, mono float32 at `sr`."""
    voice = DRUM_VOICES.get(name) or TRAINING_NEGATIVES[name]
    return colour(voice(rng, sr), rng, sr)
