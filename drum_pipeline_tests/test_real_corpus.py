"""The SoundFont reader, the real-sound corpus builder and the benchmark's scoring, on a tiny
SoundFont written here (no downloads)."""

import io
import struct
import wave

import numpy as np
import pandas as pd
import pytest

from drum_pipeline.labels.names import decide_label
from drum_pipeline.labels.taxonomy import load_taxonomy
from drum_pipeline.real_sounds import corpus as real_corpus
from drum_pipeline.real_sounds.corpus import NOTE_SECONDS, build_corpus, plan_corpus, read_truth, score
from drum_pipeline.real_sounds.soundfont import GEN_INSTRUMENT, GEN_KEY_RANGE, GEN_SAMPLE_ID, read_soundfont

RATE = 22050


def _chunk(chunk_id: bytes, body: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def _list(list_type: bytes, *chunks: bytes) -> bytes:
    return _chunk(b"LIST", list_type + b"".join(chunks))


def _name(text: str) -> bytes:
    return text.encode("latin-1").ljust(20, b"\0")


def write_tiny_soundfont(path, samples: dict[str, np.ndarray], loop: tuple[int, int]) -> None:
    """A SoundFont with a drum kit (bank 128: 'Kick A' on key 36, 'Snare B' on key 38) and a
    melodic preset (bank 0, program 73: 'Flute C', looped over `loop`, relative to its start)."""
    pcm, headers, position = [], [], 0
    for name, data in samples.items():
        start, end = position, position + len(data)
        loop_start, loop_end = (start + loop[0], start + loop[1]) if name == "Flute C" else (start, end)
        headers.append(struct.pack("<20sIIIIIBbHH", _name(name), start, end, loop_start, loop_end, RATE, 60, 0, 0, 1))
        pcm.append(data.astype("<i2").tobytes() + b"\0" * 92)  # 46 zero points after each sample
        position = end + 46
    headers.append(struct.pack("<20sIIIIIBbHH", _name("EOS"), 0, 0, 0, 0, 0, 0, 0, 0, 0))

    def gen(operator: int, amount: int) -> bytes:
        return struct.pack("<HH", operator, amount)

    def key(low: int, high: int) -> int:
        return low | (high << 8)

    # instrument 0 (drums): kick on 36, snare on 38; instrument 1 (flute): a global zone, then the sample
    igen = [gen(GEN_KEY_RANGE, key(36, 36)), gen(GEN_SAMPLE_ID, 0), gen(GEN_KEY_RANGE, key(38, 38)),
            gen(GEN_SAMPLE_ID, 1), gen(GEN_KEY_RANGE, key(0, 127)), gen(GEN_SAMPLE_ID, 2), gen(0, 0)]
    ibag = [struct.pack("<HH", g, 0) for g in (0, 2, 4, 6)]
    inst = [struct.pack("<20sH", _name("Drums"), 0), struct.pack("<20sH", _name("Flute"), 2),
            struct.pack("<20sH", _name("EOI"), 3)]
    pgen = [gen(GEN_INSTRUMENT, 0), gen(GEN_INSTRUMENT, 1), gen(0, 0)]
    pbag = [struct.pack("<HH", g, 0) for g in (0, 1, 2)]
    phdr = [struct.pack("<20sHHHIII", _name("Standard"), 0, 128, 0, 0, 0, 0),
            struct.pack("<20sHHHIII", _name("Flute"), 73, 0, 1, 0, 0, 0),
            struct.pack("<20sHHHIII", _name("EOP"), 0, 0, 2, 0, 0, 0)]
    pdta = _list(b"pdta", _chunk(b"phdr", b"".join(phdr)), _chunk(b"pbag", b"".join(pbag)),
                 _chunk(b"pmod", b"\0" * 10), _chunk(b"pgen", b"".join(pgen)), _chunk(b"inst", b"".join(inst)),
                 _chunk(b"ibag", b"".join(ibag)), _chunk(b"imod", b"\0" * 10), _chunk(b"igen", b"".join(igen)),
                 _chunk(b"shdr", b"".join(headers)))
    info = _list(b"INFO", _chunk(b"ifil", struct.pack("<HH", 2, 1)))
    body = b"sfbk" + info + _list(b"sdta", _chunk(b"smpl", b"".join(pcm))) + pdta
    path.write_bytes(_chunk(b"RIFF", body))


def _wav_pcm(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2"), wav.getframerate()


@pytest.fixture
def tiny_package(tmp_path, monkeypatch):
    """A fake unpacked 'fluid-soundfont-gm' holding the tiny SoundFont; fetch_package returns it."""
    rng = np.random.default_rng(3)
    samples = {"Kick A": rng.integers(-20000, 20000, 2205).astype(np.int16),
               "Snare B": rng.integers(-20000, 20000, 3000).astype(np.int16),
               "Flute C": rng.integers(-20000, 20000, 4410).astype(np.int16)}
    root = tmp_path / "package"
    font_path = root / real_corpus.SOURCES["fluid"].root
    font_path.parent.mkdir(parents=True)
    write_tiny_soundfont(font_path, samples, loop=(2000, 4000))
    monkeypatch.setattr(real_corpus, "fetch_package", lambda name, cache_dir: (root, f"{name}=test"))
    return font_path, samples


def test_soundfont_reader_finds_presets_keys_and_pcm(tiny_package):
    font_path, samples = tiny_package
    font = read_soundfont(font_path)
    assert [(p.name, p.bank, p.program) for p in font.presets] == [("Standard", 128, 0), ("Flute", 0, 73)]
    assert [s.name for s in font.samples] == ["Kick A", "Snare B", "Flute C"]
    assert font.sample_keys(font.presets[0]) == {0: {36}, 1: {38}}
    assert font.sample_keys(font.presets[1]) == {2: set(range(128))}
    for header in font.samples:
        np.testing.assert_array_equal(font.pcm(header), samples[header.name])


def test_corpus_drums_carry_their_key_truth_and_pcm(tiny_package, tmp_path):
    _font_path, samples = tiny_package
    entries = plan_corpus(tmp_path / "cache", ["fluid"])
    by_kind = {e.kind: [x for x in entries if x.kind == e.kind] for e in entries}
    drums = {e.path: e for e in by_kind["drum"]}
    assert set(drums) == {"fluid/drums/Bass Drum 1/Kick A.wav", "fluid/drums/Acoustic Snare/Snare B.wav"}
    assert drums["fluid/drums/Bass Drum 1/Kick A.wav"].label == "kick"
    assert drums["fluid/drums/Acoustic Snare/Snare B.wav"].label == "snare"
    assert drums["fluid/drums/Bass Drum 1/Kick A.wav"].origin.endswith("FluidR3_GM.sf2#0")

    truth_path = tmp_path / "truth.csv"
    real_corpus.write_truth(entries, truth_path)
    assert read_truth(truth_path) == entries
    corpus = tmp_path / "corpus"
    assert build_corpus(corpus, read_truth(truth_path), tmp_path / "cache") == []
    taxonomy = load_taxonomy()
    for entry in entries:
        assert decide_label(taxonomy, entry.path).label == (entry.label if entry.kind == "drum" else "")
    pcm, rate = _wav_pcm((corpus / "fluid/drums/Bass Drum 1/Kick A.wav").read_bytes())
    assert rate == RATE
    np.testing.assert_array_equal(pcm, samples["Kick A"])


def test_corpus_melodic_sample_is_a_non_drum_note_extended_by_its_loop(tiny_package, tmp_path):
    _font_path, samples = tiny_package
    entries = plan_corpus(tmp_path / "cache", ["fluid"])
    [note] = [e for e in entries if e.kind == "non_drum"]
    assert note.label == "non_drum" and note.path == "fluid/non_drums/melodic/073 Flute/Flute C.wav"
    assert decide_label(load_taxonomy(), note.path).status == "non_drum"
    build_corpus(tmp_path / "corpus", entries, tmp_path / "cache")
    pcm, _rate = _wav_pcm((tmp_path / "corpus" / note.path).read_bytes())
    flute = samples["Flute C"]
    assert len(pcm) == round(NOTE_SECONDS * RATE)
    np.testing.assert_array_equal(pcm[:2000], flute[:2000])  # the head, untouched by the fade
    np.testing.assert_array_equal(pcm[4000:6000], flute[2000:4000])  # the loop, once more
    assert pcm[-1] == 0 and np.abs(pcm[-100:]).max() < np.abs(pcm[:100]).max()  # faded out


def _index(rows):
    columns = ["path", "status", "label", "predicted_label", "model1_label", "model2_label"]
    return pd.DataFrame(rows, columns=columns)


def test_score_counts_unsorted_as_wrong_and_reports_shares():
    truth = pd.DataFrame([
        {"path": "a/kick.wav", "kind": "drum", "fine_label": "kick", "label": "kick"},
        {"path": "a/snare.wav", "kind": "drum", "fine_label": "snare", "label": "snare"},
        {"path": "a/clap.wav", "kind": "drum", "fine_label": "clap", "label": "percussion"},
        {"path": "a/rim.wav", "kind": "drum", "fine_label": "rimshot", "label": "snare"},
        {"path": "a/pad.wav", "kind": "non_drum", "fine_label": "", "label": "non_drum"},
        {"path": "a/loop.wav", "kind": "non_drum", "fine_label": "", "label": "non_drum"},
    ])
    index = _index([
        ("a/kick.wav", "ok", "kick", "kick", "kick", "kick"),
        ("a/snare.wav", "ok", "unsorted", "snare", "snare", "tom"),  # right before the unsorted rules
        ("a/clap.wav", "ok", "snare", "snare", "percussion", "snare"),
        ("a/rim.wav", "ok", "percussion", "percussion", "percussion", "percussion"),
        ("a/pad.wav", "ok", "unsorted", "tom", "tom", "tom"),
        ("a/loop.wav", "ok", "kick", "kick", "kick", "kick"),
    ])
    result = score(index, truth)
    assert result["drums"] == 4 and result["non_drums"] == 2 and result["missing_from_index"] == 0
    # final: kick right; snare (unsorted), clap (snare), rim (percussion) wrong
    # -> per class F1: kick 1, snare 0, percussion 0 (the rest absent: 0) -> 1/6
    assert result["final_macro_f1"] == pytest.approx(1 / 6, abs=1e-4)
    # ensemble: kick 1; snare: tp 1, fp 1 (clap), fn 1 (rim) -> 0.5; percussion: 0 -> 1.5/6
    assert result["ensemble_macro_f1"] == pytest.approx(1.5 / 6, abs=1e-4)
    assert result["drums_unsorted_share"] == 0.25
    assert result["non_drums_rejected_share"] == 0.5
    assert result["confusions"]["clap_as_snare"] == 1
    assert result["confusions"]["rim_sidestick_not_snare"] == 1


def test_score_treats_files_missing_or_in_error_as_unsorted():
    entries = [real_corpus.CorpusEntry("s", "s/kick.wav", "p", "o", "", "drum", "kick", "kick", "x"),
               real_corpus.CorpusEntry("s", "s/tom.wav", "p", "o", "", "drum", "tom", "tom", "y")]
    index = _index([("s/kick.wav", "error", "", "", "", "")])
    result = score(index, real_corpus.truth_table(entries))
    assert result["missing_from_index"] == 1 and result["not_ok"] == 2
    assert result["drums_unsorted_share"] == 1.0 and result["final_macro_f1"] == 0.0
    assert result["non_drums_rejected_share"] is None


def test_committed_truth_reads_right_through_the_taxonomy():
    entries = read_truth(real_corpus.DEFAULT_TRUTH_PATH)
    taxonomy = load_taxonomy()
    drums = [e for e in entries if e.kind == "drum"]
    assert len({e.source for e in drums}) >= 4 and len(drums) >= 250
    assert {e.label for e in drums} == set(taxonomy.classes)
    assert len({e.path.lower() for e in entries}) == len(entries) and len({e.sha256 for e in entries}) == len(entries)
    assert not {e.package.split("=")[0] for e in entries} & real_corpus.RESERVED_PACKAGES
    for entry in entries:
        decision = decide_label(taxonomy, entry.path)
        if entry.kind == "drum":
            assert (decision.label, taxonomy.fine_to_class[entry.fine_label]) == (entry.label, entry.label), entry.path
        else:
            assert decision.status == "non_drum" and entry.label == "non_drum", entry.path


def test_fetch_package_says_what_is_missing_in_one_line(tmp_path, monkeypatch):
    with pytest.raises(real_corpus.CorpusError, match="reserved"):
        real_corpus.fetch_package("hydrogen-drumkits", tmp_path)
    monkeypatch.setattr(real_corpus.shutil, "which", lambda tool: None)
    with pytest.raises(real_corpus.CorpusError, match="apt-get not found"):
        real_corpus.fetch_package("lmms-common", tmp_path)
