import hashlib
import os

from drum_pipeline.audio.hashing import HashCache, sha256_file


def test_sha256_matches_hashlib(tmp_path):
    path = tmp_path / "a.bin"
    data = os.urandom(3 * (1 << 20) + 17)
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_unchanged_file_is_read_once_and_changes_are_seen(tmp_path):
    path = tmp_path / "kick.wav"
    path.write_bytes(b"one")
    db = tmp_path / "cache.sqlite"
    with HashCache(db) as cache:
        first = cache.sha256(path)
        assert cache.sha256(path) == first
        assert (cache.hits, cache.misses) == (1, 1)
    with HashCache(db) as cache:  # persisted across processes and runs
        assert cache.sha256(path) == first
        assert (cache.hits, cache.misses) == (1, 0)
        os.utime(path, ns=(1, 1_000_000_000))  # touched: re-read, same digest
        assert cache.sha256(path) == first
        path.write_bytes(b"two")  # changed content
        assert cache.sha256(path) == hashlib.sha256(b"two").hexdigest()
        assert cache.misses == 2


def test_many_files_hashed_on_threads_equal_one_at_a_time_and_are_remembered(tmp_path):
    paths = [tmp_path / f"hit {i}.wav" for i in range(40)]
    for i, path in enumerate(paths):
        path.write_bytes(os.urandom(1000 + i) if i % 5 else b"same bytes")
    missing = tmp_path / "gone.wav"
    with HashCache(tmp_path / "cache.sqlite") as cache:
        digests = cache.sha256_many([*paths, missing], workers=3)
        assert digests[:-1] == [sha256_file(path) for path in paths] and isinstance(digests[-1], OSError)
        assert (cache.hits, cache.misses) == (0, 40)
        assert cache.sha256_many(paths) == digests[:-1] and cache.hits == 40
