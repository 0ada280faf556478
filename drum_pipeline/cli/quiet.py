"""Quiet terminal output for the CLI: TensorFlow's native log lines (CUDA probes, oneDNN notes)
are written by C++ straight to file descriptor 2, before any Python setting can stop them, so
they are filtered out of that descriptor; Python's own stderr is left as it is (a terminal stays
a terminal for progress bars)."""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading

# absl / TSL lines: "I0000 00:00:1795.. 19886 cudart_stub.cc:31] ...", "E0000 ... cuInit ...",
# absl's notice that it logs to stderr before InitializeLog, and LiteRT's XNNPACK notice.
NATIVE_LOG_LINE = re.compile(rb"^([IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl::InitializeLog"
                             rb"|INFO: Created TensorFlow Lite XNNPACK delegate)")


def hide_native_logs() -> None:
    """Hide TensorFlow's C++ and Python log lines for the rest of this process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return
    sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")

    def forward() -> None:
        with os.fdopen(read_end, "rb") as native:
            for line in native:
                if not NATIVE_LOG_LINE.match(line):
                    os.write(terminal, line)

    thread = threading.Thread(target=forward, name="native-stderr-filter", daemon=True)
    thread.start()

    def finish() -> None:
        os.dup2(terminal, 2)  # closes the pipe's last write end: the thread sees its end
        thread.join(timeout=1.0)

    atexit.register(finish)
