"""DrumSynth presets (.ds, the INI format LMMS ships under samples/drumsynth/) rendered in pure Python/NumPy.

A port of LMMS's src/core/DrumSynth.cpp (Paul Kellett's DrumSynth 2 engine): the same INI lookup, envelope
stepping, 1200-sample blocks, float32 phase accumulation, filters, bit/rate reduction and 16-bit clipping. The
reference's output is mono (LMMS copies it to both channels), so the result here is that one channel. What differs
on purpose: noise comes from a seeded NumPy generator (renders are the same on every machine), values keep the
trailing-whitespace trim of DrumSynth and LMMS 1.2 (LMMS's newer trim is off by one and, on presets with trailing
spaces, turns the last envelope point into a stale one), and state the reference leaves over from earlier renders
reads as a fresh process's zeros.
"""

from __future__ import annotations

import math
import re

import numpy as np
from scipy.signal import lfilter

BLOCK = 1200  # the reference renders, and switches sections off, in blocks of this many samples
MAX_SECONDS = 60.0  # longest render allowed (the lmms-common presets are all far shorter)
HOLD = 442000  # an envelope holds this long (times Stretch) after its last point

F32 = np.float32
TWO_PI = F32(2 * np.pi)

ENV_DEFAULT = "0,0 100,0"  # a missing envelope: silent
_BAND = (("On", int, 0), ("Level", int, 128), ("F", float, 1000.0), ("dF", int, 50), ("Envelope", "env", ENV_DEFAULT))
# Each section's keys as the reference reads them: (key, type, default); "env" values are envelope strings.
SCHEMA: dict[str, tuple[tuple[str, object, object], ...]] = {
    "General": (
        ("Version", str, ""), ("Comment", str, ""), ("Tuning", float, 0.0), ("Stretch", float, 100.0),
        ("Level", float, 0.0), ("Filter", int, 0), ("HighPass", int, 0), ("Resonance", float, 0.0),
        ("FilterEnv", "env", ENV_DEFAULT),
    ),
    "Tone": (
        ("On", int, 0), ("Level", int, 128), ("Envelope", "env", ENV_DEFAULT), ("F1", float, 200.0),
        ("F2", float, 120.0), ("Droop", float, 0.0), ("Phase", float, 90.0),
    ),
    # FixedSeq is read but, as in LMMS (its srand(1) is commented out), changes nothing: the noise here is always seeded
    "Noise": (("On", int, 0), ("Level", int, 0), ("Slope", int, 0), ("Envelope", "env", ENV_DEFAULT), ("FixedSeq", int, 0)),
    "Overtones": (
        ("On", int, 0), ("Level", int, 128), ("Envelope1", "env", ENV_DEFAULT), ("Envelope2", "env", ENV_DEFAULT),
        ("Method", int, 2), ("F1", float, 200.0), ("F2", float, 120.0), ("Wave1", int, 0), ("Wave2", int, 0),
        ("Param", int, 50), ("Filter", int, 0), ("Track1", int, 0), ("Track2", int, 0),
    ),
    "NoiseBand": _BAND,
    "NoiseBand2": _BAND,
    "Distortion": (("On", int, 0), ("Clipping", int, 0), ("Bits", int, 0), ("Rate", int, 0)),
}
# buffer sizes in the reference, less the terminating NUL: values are cut to these lengths
_VALUE_CHARS = {str: 255, int: 15, float: 15, "env": 255, "Version": 31}
_LINE_CHARS = 199  # the reference's line buffer holds 200 chars with the NUL

_INT = re.compile(r"[ \t\n\r\f\v]*([+-]?\d+)")
_FLOAT = re.compile(r"[ \t\n\r\f\v]*([+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan))", re.IGNORECASE)


class DrumSynthError(ValueError):
    """A text that is not a DrumSynth preset the reference would render."""


# ----- reading: GetPrivateProfileString and friends -----


def _getline(text: str, pos: int, delim: str) -> tuple[str, int, bool]:
    """std::istream::getline into a 200-char buffer: (line, next position, stream still good)."""
    end = text.find(delim, pos)
    chunk = text[pos:] if end < 0 else text[pos:end]
    if len(chunk) > _LINE_CHARS:  # buffer full before the delimiter: failbit, the rest of the line unread
        return chunk[:_LINE_CHARS], pos + _LINE_CHARS, False
    if end < 0:
        return chunk, len(text), False
    return chunk, end + 1, True


def _key_value(line: str) -> tuple[str | None, str | None]:
    """strtok(line, " \\t=") then strtok(NULL, "\\n\\r"): the key and what follows its first delimiter."""
    line = line.split("\0", 1)[0]
    start = 0
    while start < len(line) and line[start] in " \t=":
        start += 1
    if start == len(line):
        return None, None
    end = start
    while end < len(line) and line[end] not in " \t=":
        end += 1
    key = line[start:end]
    if end == len(line):
        return key, None
    value = line[end + 1 :].lstrip("\r\n")
    value = re.split(r"[\r\n]", value, maxsplit=1)[0]
    return key, value or None


def _lookup(text: str, section: str, key: str) -> str | None:
    """The reference's value for section/key (case-insensitive), or None where it would use the default.

    As in the reference, the first [section] header counts, and a line longer than 199 characters ends
    the search (when it is the key's own line, its first 199 characters are the value)."""
    pos, in_section = 0, False
    section, key = section.lower(), key.lower()
    while True:
        if not in_section:
            start = text.find("[", pos)
            if start < 0:
                return None
            line, pos, good = _getline(text, start + 1, "]")
            in_section = line.split("\0", 1)[0].lower() == section
        else:
            line, pos, good = _getline(text, pos, "\n")
            if line.startswith("["):
                return None
            found, value = _key_value(line)
            if found is not None and found.lower() == key:
                value = None if value is None else value.rstrip(" \t")
                return value or None
        if not good:
            return None


def _scan_int(value: str) -> int:
    match = _INT.match(value)
    return max(-(2**31), min(2**31 - 1, int(match.group(1)))) if match else 0


def _scan_float(value: str) -> float:
    match = _FLOAT.match(value)
    with np.errstate(over="ignore"):  # past float32's range: inf, as the reference's float
        return float(F32(float(match.group(1)))) if match else 0.0


def _parse_envelope(value: str) -> list[tuple[float, float]]:
    """GetEnv: "time,level time,level ..." as the reference scans it, character by character.

    Its quirks are kept: a separator leaves the last token in place (so "0,100  50,0" repeats 100 in an
    extra point), and fields it never sets read as zero."""
    times: dict[int, float] = {}
    levels: dict[int, float] = {}
    token, used, point = "", 0, 0
    for char in value:
        if char == ",":
            if token.strip():
                times[point] = _scan_float(token)
            used = 0
        elif char == " ":
            if token.strip():
                levels[point] = _scan_float(token)
            used = 0
            point += 1
        else:
            token = token[:used] + char
            used += 1
    if token.strip():
        levels[point] = _scan_float(token)
    return [(times.get(i, 0.0), levels.get(i, 0.0)) for i in range(point + 1)]


def read_preset(text: str | bytes) -> dict[str, dict[str, object]]:
    """The preset's settings as the reference reads them: {section: {key: value}} with every key of every section
    (the reference's spellings; the lookup in the text is case-insensitive), its defaults for missing keys, and
    envelopes as lists of (time, level) points (time in samples at 44.1 kHz before Stretch, level 0..100).

    Raises DrumSynthError when the text is not a DrumSynth v1/v2 preset (the reference renders nothing then)."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("latin-1")
    if not isinstance(text, str):
        raise DrumSynthError(f"a DrumSynth preset is text, not {type(text).__name__}")
    preset: dict[str, dict[str, object]] = {}
    for section, keys in SCHEMA.items():
        values: dict[str, object] = {}
        for key, kind, default in keys:
            raw = _lookup(text, section, key)
            limit = _VALUE_CHARS["Version" if key == "Version" else kind]
            raw = None if raw is None else raw[:limit]
            if kind == "env":
                values[key] = _parse_envelope(default if raw is None else raw)
            elif raw is None:
                values[key] = default
            elif kind is int:
                values[key] = _scan_int(raw)
            elif kind is float:
                values[key] = _scan_float(raw)
            else:
                values[key] = raw
        preset[section] = values
    version = str(preset["General"]["Version"])
    if version[:9].lower() != "drumsynth" or version[11:12] not in ("1", "2"):
        found = f"Version={version!r}" if version else "no Version"
        raise DrumSynthError(f"not a DrumSynth v1/v2 preset ([General] has {found})")
    return preset


# ----- rendering -----


def _pow10(x):
    """fastPow10f: exp(ln 10 * x) in float32."""
    return np.exp(F32(np.log(10)) * x)


class _Envelope:
    """An envelope's points, with the reference's ends: a -1 time after the last point, zeros after that."""

    def __init__(self, points: list[tuple[float, float]], stretch: np.float32):
        self.times = [F32(t) for t, _ in points]
        self.levels = [F32(level) for _, level in points]
        self.stretch = stretch
        last = 0
        while self.time(last + 1) >= 0:  # LongestEnv: the envelope ends before the first negative time
            last += 1
        self.end = self.time(last) * stretch  # in samples
        self.raw_end = self.times[-1]  # GetEnv's end, unstretched: the tone's droop uses it

    def time(self, index: int) -> np.float32:
        if index < len(self.times):
            return self.times[index]
        return F32(-1.0) if index == len(self.times) else F32(0.0)

    def level(self, index: int) -> np.float32:
        return self.levels[index] if index < len(self.levels) else F32(0.0)

    def render(self, count: int, zero_after_end: bool = False) -> np.ndarray:
        """The level (0..1) at each of `count` samples, stepped as UpdateEnv steps it (float32 ramps).

        `zero_after_end` is the overtones' variant: silent from the first update at or past the end."""
        out = np.zeros(count, F32)
        start, point = 0, 0
        hold = F32(HOLD) * self.stretch
        while start < count:
            if (zero_after_end and start >= self.end) or point >= len(self.times):
                break  # past the end: zeros
            target = self.time(point + 1) * self.stretch
            if target < 0:
                target = hold
            level = self.level(point) * F32(0.01)
            step_span = max(target - F32(start), F32(1.0))
            slope = (self.level(point + 1) * F32(0.01) - level) / step_span
            point += 1
            if math.isnan(target):
                stop = start + 1
            elif math.isinf(target):
                stop = count
            else:
                stop = min(count, max(start + 1, math.ceil(float(target))))
            ramp = np.full(stop - start, slope, F32)
            ramp[0] = level
            out[start:stop] = np.cumsum(ramp, dtype=F32)
            start = stop
        return out


def _active(end: float, length: int) -> int:
    """Samples a section renders: whole blocks until the block that reaches its envelope's end."""
    if math.isnan(end) or end == math.inf:
        return length  # never reached: the section plays to the end
    return min(length, max(1, math.ceil(end / BLOCK)) * BLOCK) if end > 0 else min(length, BLOCK)


def _phase(start: np.float32, steps: np.ndarray) -> np.ndarray:
    """start + running sum of steps, accumulated in float32 as the reference does."""
    return np.cumsum(np.concatenate(([start], np.asarray(steps, F32))), dtype=F32)[1:]


def _waveform(phase: np.ndarray, form: int) -> np.ndarray:
    """The overtone oscillators: 0 sine, 1 |sine| ("sine^2"), 2 triangle, 3 sawtooth, other square."""
    if form == 0:
        return np.sin(phase)
    if form == 1:
        return np.abs(F32(2) * np.sin(F32(0.5) * phase)) - F32(1)
    cycles = phase / TWO_PI
    saw = cycles - np.floor(cycles)
    if form == 2:
        return F32(1) - F32(4) * np.abs(saw - F32(0.5))
    if form == 3:
        return F32(2) * saw - F32(1)
    return np.where(saw < F32(0.5), F32(1), F32(-1))


def _int16(value: float) -> int:
    """float -> short as x86 does it: truncate to int32, keep the low 16 bits."""
    if not math.isfinite(value) or abs(value) >= 2**31:
        return 0
    return (int(value) + 2**15) % 2**16 - 2**15


def _cymbal(pulses: np.ndarray, cutoff: np.ndarray, damping: float) -> np.ndarray:
    """The 808-cymbal mode's band-pass (a state-variable filter with a moving cutoff) over its pulse train."""
    low = band = previous = 0.0
    out = []
    append = out.append
    for pulse, f in zip(pulses.tolist(), cutoff.tolist(), strict=True):
        low += f * band
        band += f * (pulse + previous - damping * band - low)
        previous = pulse
        append(band)
    return np.array(out, F32)


def _main_filter(signal: np.ndarray, feedback: np.ndarray, resonance: np.ndarray) -> np.ndarray:
    """[General] Filter: two one-pole low-passes with resonance feedback, cutoff following FilterEnv."""
    first = second = 0.0
    out = []
    append = out.append
    for x, fb, res in zip(signal.tolist(), feedback.tolist(), resonance.tolist(), strict=True):
        tmp = x + res * (first - second)
        first = fb * (first - tmp) + tmp
        second = fb * (second - first) + first
        append(second)
    return np.array(out, F32)


def _noise_band(section: dict, tune: np.float32, rate: int, stretch: np.float32, length: int, rng, single: bool):
    """[NoiseBand]/[NoiseBand2]: a cosine whose frequency jumps randomly every few samples around F."""
    level = F32(section["Level"] * section["Level"])
    freq = tune * TWO_PI * F32(section["F"]) / F32(rate)
    width = section["dF"]
    spread = F32(width) * F32(width) / (F32(10000) - F32(6600) * (np.sqrt(freq) - F32(0.19)))
    # band 1 computes its hold in float, band 2 in double (`single`): a one-sample difference at some widths
    if single:
        hold = (F32(40) - F32(width) / F32(2.5)) / (spread + F32(1) + freq)
    else:
        hold = (40 - width / 2.5) / (float(spread) + 1 + float(freq))
    hold = 1 + int(hold) if math.isfinite(hold) and abs(hold) < 2**31 else 1
    hold = abs(hold) or 1  # t % step == 0 means multiples of |step|; a zero step would crash the reference
    envelope = _Envelope(section["Envelope"], stretch)
    count = _active(float(envelope.end), length)
    jumps = rng.uniform(-0.5, 0.5, (count + hold - 1) // hold).astype(F32)
    steps = freq + spread * np.repeat(jumps, hold)[:count]
    phase = _phase(F32(np.pi / 4), steps)
    return np.cos(phase) * envelope.render(count) * level


def _render_pcm(preset: dict, rate: int, rng: np.random.Generator, max_seconds: float) -> np.ndarray:
    """The reference's 16-bit output (as int16) for a preset read by read_preset."""
    general, tone, noise = preset["General"], preset["Tone"], preset["Noise"]
    over, band1, band2, dist = preset["Overtones"], preset["NoiseBand"], preset["NoiseBand2"], preset["Distortion"]

    stretch = min(max(F32(0.01) * F32(general["Stretch"]), F32(0.2)), F32(10.0))
    stretch = stretch * (F32(rate) / F32(44100.0))  # envelope times are in samples at 44.1 kHz
    gain = _pow10(F32(0.05) * F32(general["Level"]))
    tune = F32(1.0594631) ** F32(general["Tuning"])
    main_filter = 2 * general["Filter"] or over["Filter"]
    resonance = np.sqrt(F32(0.0101) * F32(general["Resonance"]))
    high_pass = general["HighPass"]

    on = {name: preset[name]["On"] == 1 for name in ("Tone", "Noise", "Overtones", "NoiseBand", "NoiseBand2")}
    envelopes = {
        "Tone": _Envelope(tone["Envelope"], stretch),
        "Noise": _Envelope(noise["Envelope"], stretch),
        "Overtones1": _Envelope(over["Envelope1"], stretch),
        "Overtones2": _Envelope(over["Envelope2"], stretch),
        "NoiseBand": _Envelope(band1["Envelope"], stretch),
        "NoiseBand2": _Envelope(band2["Envelope"], stretch),
    }
    longest = 0.0
    for name, envelope in envelopes.items():
        if on[name.rstrip("12") if name.startswith("Overtones") else name] and envelope.end > longest:
            longest = float(envelope.end)
    if not math.isfinite(longest):
        raise DrumSynthError("an envelope's times are not finite numbers")
    length = 2 * BLOCK + BLOCK * int(F32(longest) / F32(BLOCK))
    if length > max_seconds * rate:
        raise DrumSynthError(f"the preset would render {length / rate:.1f} s (more than {max_seconds:g} s)")
    out = np.zeros(length, F32)

    if on["Noise"]:
        slope = noise["Slope"]
        level = F32(noise["Level"] * noise["Level"])
        if slope < 0:
            taps = [F32(1) + F32(slope) / F32(105), 0, 0]
            feedback = -F32(slope) / F32(105)
            level = (F32(1) + F32(0.0005) * F32(slope * slope)) * level
        else:
            taps, feedback = [1, -F32(slope) / F32(50), F32(abs(slope)) / F32(100)], 0
        envelope = envelopes["Noise"]
        count = _active(float(envelope.end), length)
        white = rng.uniform(-1.0, 1.0, count)
        shaped = lfilter(np.array(taps, float), [1.0, -float(feedback)], white).astype(F32)
        out[:count] = shaped * level * envelope.render(count)

    f1 = tune * TWO_PI * F32(tone["F1"]) / F32(rate)
    if abs(f1) < F32(0.001):
        f1 = F32(0.001)  # the overtones divide by it
    f2 = tune * TWO_PI * F32(tone["F2"]) / F32(rate)
    droop = F32(tone["Droop"])
    drooping = droop > 0
    envelope = envelopes["Tone"]
    if drooping:
        # its time constant uses the unstretched envelope end: Stretch (and the sample rate) leave it alone
        droop = _pow10(F32(droop - F32(20)) / F32(30)) * F32(-4) / envelope.raw_end
        f2 = f1 + (f2 - f1) / (F32(1) - np.exp(droop * envelope.raw_end))
        sweep = f1 - f2
    else:
        sweep = f2 - f1
    start_phase = F32(tone["Phase"]) / F32(57.29578)
    tone_count = _active(float(envelope.end), length) if on["Tone"] else 0
    steps = np.full(length, f2, F32)  # after the tone, the overtones' sync keeps advancing at F2
    t = np.arange(tone_count, dtype=F32)
    if drooping:
        steps[:tone_count] = f2 + sweep * np.exp(t * droop)
    else:
        steps[:tone_count] = f1 + (t / envelope.end) * sweep
    tone_phase = _phase(start_phase, steps)
    if on["Tone"]:
        tone_level = F32(tone["Level"] * tone["Level"])
        out[:tone_count] += tone_level * envelope.render(tone_count) * np.sin(tone_phase[:tone_count])

    for section, single in ((band1, True), (band2, False)):
        if section["On"] == 1:
            band = _noise_band(section, tune, rate, stretch, length, rng, single)
            out[: len(band)] += band

    overtones = np.zeros(length, F32)
    if on["Overtones"]:
        level = F32(over["Level"] * over["Level"])
        of1 = tune * TWO_PI * F32(over["F1"]) / F32(rate)
        of2 = tune * TWO_PI * F32(over["F2"]) / F32(rate)
        balance2 = F32(over["Param"])
        drive = balance2 * balance2 * balance2 / F32(125000)
        balance2 = balance2 * F32(0.01)
        balance1 = F32(1) - balance2
        sync1 = over["Track1"] == 1 and on["Tone"]
        sync2 = over["Track2"] == 1 and on["Tone"]
        if sync1:
            of1 = of1 / f1
        if sync2:
            of2 = of2 / f1
        phase1 = tone_phase * of1 if sync1 else _phase(start_phase, np.full(length, of1, F32))
        phase2 = tone_phase * of2 if sync2 else _phase(start_phase, np.full(length, of2, F32))
        env1 = envelopes["Overtones1"].render(length, zero_after_end=True)
        env2 = envelopes["Overtones2"].render(length, zero_after_end=True)
        method = over["Method"]
        if method == 0:  # mix
            overtones = level * (balance1 * env1 * _waveform(phase1, over["Wave1"])
                                 + balance2 * env2 * _waveform(phase2, over["Wave2"]))
        elif method == 1:  # FM
            modulator = drive * env2 * _waveform(phase2, over["Wave2"])
            overtones = level * env1 * _waveform(phase1 + modulator, over["Wave1"])
        elif method == 2:  # ring modulation
            ring = (F32(1) - drive / F32(8)) + (drive / F32(8) * env2) * _waveform(phase2, over["Wave2"])
            overtones = level * env1 * _waveform(phase1, over["Wave1"]) * ring
        elif method == 3:  # 808 cymbal: six pulse trains between the two periods through a band-pass
            weight = F32(0.28) + balance1 * balance1
            damping = weight * weight
            cutoff = (F32(1.8) - F32(0.7) * damping) * F32(0.92)
            period1, period2 = TWO_PI / of1, TWO_PI / of2
            hits = np.zeros(length, bool)
            for i in range(6):
                period = float(period1 + (period2 - period1) * F32(0.2) * F32(i))
                if not math.isfinite(period):
                    continue  # the counter never passes an infinite or NaN period
                if period <= 1:
                    hits[:] = True
                else:
                    hits[np.floor(np.arange(0, length / period) * period).astype(np.int64)] = True
            pulses = np.where(hits, level * env1, F32(0))
            overtones = _cymbal(pulses, env2 * cutoff, float(damping))

    if main_filter in (1, 2):
        opening = _Envelope(general["FilterEnv"], stretch).render(length)
        feedback = np.where(opening > F32(0.2), F32(1.001) - _pow10(opening - F32(1)), F32(0.999) - F32(0.7824) * opening)
        feedback_res = resonance * (F32(1) + F32(1) / feedback)
        if main_filter == 1:  # the overtones only
            out += _main_filter(overtones, feedback, feedback_res) - F32(high_pass) * overtones
        else:  # everything
            mixed = out + overtones
            out = _main_filter(mixed, feedback, feedback_res) - F32(high_pass) * mixed
    else:
        out += overtones

    clip = 32700
    if dist["On"] == 1:
        loudest = 0.0
        for name in ("Tone", "Noise", "Overtones", "NoiseBand", "NoiseBand2"):
            if on[name] and preset[name]["Level"] > loudest:
                loudest = float(preset[name]["Level"])
        atten = gain * F32(_int16(loudest * loudest))
        clip = 32700 if atten > 32700 else _int16(float(atten))
        atten = F32(np.exp2(2.0 * dist["Bits"]))
        gain = atten * gain * _pow10(F32(0.05) * F32(dist["Clipping"]))
        quantized = np.trunc(np.clip(np.nan_to_num(out / atten, nan=0.0), -(2.0**31), 2.0**31 - 1))
        out = gain * quantized.astype(F32)
        rate_step = 1 + dist["Rate"]
        rate_step = {7: 20, 6: 10, 5: 8}.get(rate_step, rate_step)
        if rate_step > 1:
            blocks = out.reshape(-1, BLOCK)
            for first in range(0, BLOCK, rate_step):  # hold each group's mean, within each block
                group = blocks[:, first : first + rate_step]
                group[:] = group.mean(axis=1, keepdims=True, dtype=F32)
    else:
        out = out * gain

    pcm = np.where(out > clip, clip, np.where(out < -clip, -clip, np.trunc(np.nan_to_num(out, nan=0.0))))
    return pcm.astype(np.int16)


def render_preset(text: str | bytes, sample_rate: int = 44100, *, seed: int = 0,
                  max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """Render a DrumSynth preset's text: mono float32 in [-1, 1] (the reference's 16-bit samples / 32768).

    The length is the reference's: whole 1200-sample blocks, at least two past the longest envelope of the
    sections that are on, so renders end in silence. `seed` seeds the noise. Raises DrumSynthError for a text
    that is not a preset, or one that would render longer than `max_seconds`."""
    if not isinstance(sample_rate, int | np.integer) or sample_rate <= 0:
        raise DrumSynthError(f"sample rate must be a positive integer, not {sample_rate!r}")
    preset = read_preset(text)
    with np.errstate(all="ignore"):
        pcm = _render_pcm(preset, int(sample_rate), np.random.default_rng(seed), max_seconds)
    return pcm.astype(F32) / F32(32768)
