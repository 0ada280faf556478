"""Progress lines for long work: done / total, files per second, time left."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager


class ProgressLog:
    """Call with (done, total); writes a line through `log` at most every `every_seconds`, and at the end."""

    def __init__(self, log: Callable[[str], None], what: str, every_seconds: float = 10.0):
        self._log, self._what, self._every = log, what, every_seconds
        self._start = self._last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < self._every:
            return
        self._last = now
        rate = done / max(now - self._start, 1e-9)
        left = (total - done) / rate if rate > 0 else 0.0
        self._log(f"{self._what}: {done}/{total} files, {rate:.0f} files/s, {left:.0f} s left")


class StageTimes:
    """Seconds spent per stage (discovery, hashing, decoding, ...), added up across calls and
    threads: `with times("decoding"): ...`. Stages on worker threads add each thread's time."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            with self._lock:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed
