from collections import Counter

import numpy as np
import soundfile as sf

from drum_pipeline.audio.folders import scan_audio_files
from drum_pipeline.audio.hashing import sha256_file
from drum_pipeline.demo.data import (
    LIBRARY_PACKS,
    make_demo_archive,
    make_demo_library,
    read_manifest,
)


def _contents(root):
    """Decoded audio per file (bytes for broken files): libsndfile stamps float WAVs with the
    time and gives each Ogg stream a random serial, so bytes alone differ between runs."""
    out = {}
    for f in scan_audio_files(root):
        try:
            out[f.relpath] = sf.read(str(f.path))[0].round(5).tobytes()
        except sf.LibsndfileError:
            out[f.relpath] = sha256_file(f.path)
    return out


def test_synthesis_is_deterministic_from_its_seed(tmp_path):
    for name in ("a", "b"):
        make_demo_library(tmp_path / name / "library", seed=3, scale=0.15)
        make_demo_archive(tmp_path / name / "archive", seed=3, scale=0.15)
    for folder in ("library", "archive"):
        assert _contents(tmp_path / "a" / folder) == _contents(tmp_path / "b" / folder)
    make_demo_library(tmp_path / "c", seed=4, scale=0.15)
    assert _contents(tmp_path / "c") != _contents(tmp_path / "a" / "library")


def test_full_demo_has_the_promised_size_labels_and_formats(tmp_path):
    library = make_demo_library(tmp_path / "library")
    archive = make_demo_archive(tmp_path / "archive")
    drums = [r for r in library if r["kind"] == "drum"]
    assert len(drums) >= 600
    assert len({r["relpath"].split("/")[0] for r in drums}) == len(LIBRARY_PACKS) >= 8
    assert len({r["fine_label"] for r in drums}) >= 25
    assert {r["kind"] for r in library} >= {"drum", "loop", "fx", "bass", "melodic"}
    assert read_manifest(tmp_path / "library") == library

    assert len(archive) >= 300
    kinds = Counter(r["kind"] for r in archive)
    assert kinds["duplicate"] > 0 and kinds["broken"] >= 5 and kinds["loop"] > 0 and kinds["fx"] > 0
    for row in archive:
        if row["kind"] == "duplicate":
            assert sha256_file(tmp_path / "archive" / row["relpath"]) == sha256_file(tmp_path / "archive" / row["source"])

    seen = Counter()
    for root in ("library", "archive"):
        for f in scan_audio_files(tmp_path / root):
            if f.size > 0 and "broken" not in f.relpath:
                info = sf.info(str(f.path))
                seen[(info.format, info.subtype)] += 1
                seen[("rate", info.samplerate)] += 1
                seen[("channels", info.channels)] += 1
    for key in [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"),
                ("AIFF", "PCM_16"), ("rate", 22050), ("rate", 96000), ("channels", 1), ("channels", 2)]:
        assert seen[key] > 0, key


def test_same_class_sounds_vary(small_demo):
    """Two kicks of one pack are not the same sound with another gain."""
    kicks = [r for r in read_manifest(small_demo / "library") if r["fine_label"] == "kick"][:6]
    spectra = []
    for row in kicks:
        audio, sr = sf.read(str(small_demo / "library" / row["relpath"]), always_2d=True)
        mag = np.abs(np.fft.rfft(audio[:, 0], 8192))
        spectra.append(mag / np.linalg.norm(mag))
    similarity = np.array([[a @ b for b in spectra] for a in spectra])
    off_diagonal = similarity[~np.eye(len(spectra), dtype=bool)]
    assert off_diagonal.max() < 0.99
