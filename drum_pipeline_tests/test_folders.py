import os

from drum_pipeline.audio.folders import fingerprint, scan_audio_files


def _tree(root):
    (root / "Pack A" / "Kicks").mkdir(parents=True)
    (root / "Pack A" / "Kicks" / "Kick 01.wav").write_bytes(b"a")
    (root / "Pack A" / "SNARE.WAV").write_bytes(b"b")
    (root / "root.flac").write_bytes(b"c")
    (root / "notes.txt").write_bytes(b"not audio")
    (root / "Pack A" / "._Kick 01.wav").write_bytes(b"resource fork")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.wav").write_bytes(b"d")


def test_scan_lists_audio_by_extension_in_any_case_and_skips_hidden(tmp_path):
    _tree(tmp_path)
    assert [f.relpath for f in scan_audio_files(tmp_path)] == [
        "Pack A/Kicks/Kick 01.wav",
        "Pack A/SNARE.WAV",
        "root.flac",
    ]
    assert scan_audio_files(tmp_path / "missing") == []


def test_fingerprint_changes_on_add_touch_remove_and_only_then(tmp_path):
    _tree(tmp_path)
    base = fingerprint(scan_audio_files(tmp_path))
    assert fingerprint(scan_audio_files(tmp_path)) == base
    (tmp_path / "notes.txt").write_bytes(b"edited, but not audio")
    assert fingerprint(scan_audio_files(tmp_path)) == base

    (tmp_path / "new.ogg").write_bytes(b"e")
    added = fingerprint(scan_audio_files(tmp_path))
    assert added != base

    st = (tmp_path / "root.flac").stat()
    os.utime(tmp_path / "root.flac", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    touched = fingerprint(scan_audio_files(tmp_path))
    assert touched not in (base, added)

    (tmp_path / "new.ogg").unlink()
    removed = fingerprint(scan_audio_files(tmp_path))
    assert removed not in (base, added, touched)
