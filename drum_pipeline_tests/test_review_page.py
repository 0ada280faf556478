"""The review page's requests on a hand-made index (no models), through the real server
(`drum-pipeline review --serve`, a process of its own) and urllib: what it serves, and what it refuses."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
import soundfile as sf
from test_corrections import _index

from drum_pipeline.config.layout import OutputLayout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_review_page(env: dict, port: int) -> subprocess.Popen:
    """`drum-pipeline review --serve` on `port`, once it answers."""
    server = subprocess.Popen([sys.executable, "-m", "drum_pipeline.cli", "review", "--serve", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the review page stopped: {server.stderr.read()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise AssertionError("the review page did not answer in 90 s")


def stop_review_page(server: subprocess.Popen) -> str:
    """Ctrl-C; the page must stop cleanly. Returns what it said on stderr."""
    server.send_signal(signal.SIGINT)
    _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0 and "Traceback" not in stderr, stderr
    return stderr


def request(port: int, path: str, body: dict | None = None) -> tuple[int, bytes, str]:
    """(status, body, content type) of a GET, or of a POST of `body` as JSON."""
    data = None if body is None else json.dumps(body).encode()
    call = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                  headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(call, timeout=60) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A review page on an archive of pack P (a WAV, an AIFF, and a link leading out of the archive,
    all three in the index) and the folders it may not touch."""
    base = tmp_path_factory.mktemp("page")
    archive, output = base / "archive", base / "out"
    (archive / "P").mkdir(parents=True)
    hit = (np.exp(-np.linspace(0, 8, 11025)) * np.sin(np.linspace(0, 900, 11025))).astype(np.float32)
    sf.write(archive / "P/a.wav", hit, 22050)
    sf.write(archive / "P/b.aif", hit, 22050, format="AIFF")
    sf.write(base / "secret.wav", hit, 22050)
    (archive / "P/link.wav").symlink_to(base / "secret.wav")
    layout = OutputLayout(output)
    layout.write_partition("archive_index", "P", _index([{"path": p, "sha256": s} for p, s in
                                                         (("P/a.wav", "1"), ("P/b.aif", "2"), ("P/link.wav", "3"))]))
    env = {**os.environ, "DRUM_ARCHIVE_DIR": str(archive), "DRUM_OUTPUT_DIR": str(output),
           "DRUM_LIBRARY_DIR": str(base / "library"), "DAGSTER_HOME": str(base / "home"), "PYTHONWARNINGS": "ignore"}
    port = free_port()
    server = start_review_page(env, port)
    yield port, archive, output, env
    stop_review_page(server)


def test_the_page_lists_the_queue_and_serves_the_archive_files(page):
    port, archive, _, _ = page
    status, body, kind = request(port, "/")
    assert status == 200 and b"/queue" in body and kind.startswith("text/html")
    queue = json.loads(request(port, "/queue")[1])
    assert queue["classes"] == ["kick", "snare", "hihat", "tom", "cymbal", "percussion"]
    assert {item["path"] for item in queue["items"]} == {"P/a.wav", "P/b.aif", "P/link.wav"}
    assert {"label", "predicted_label", "confidence", "model1_label", "model2_label", "folder_label", "why"} \
        <= set(queue["items"][0])
    status, body, kind = request(port, "/audio?path=P/a.wav")
    assert (status, body) == (200, (archive / "P/a.wav").read_bytes()) and kind.startswith("audio/")
    status, body, kind = request(port, "/audio?path=P/b.aif")  # Chromium plays no AIFF: decoded to WAV
    assert status == 200 and body[:4] == b"RIFF" and kind == "audio/wav"
    status, body, kind = request(port, "/picture?path=P/a.wav")
    assert status == 200 and body[:8] == b"\x89PNG\r\n\x1a\n" and kind == "image/png"


def test_the_page_serves_the_ui_pictures_of_the_reports_and_nothing_else(page):
    from drum_pipeline.config.layout import OutputLayout
    from drum_pipeline.defs.metadata import picture

    port, _, output, _ = page
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    markdown = picture(OutputLayout(output), "confusion_ensemble", png, "confusion matrix").value
    url = markdown[markdown.index("(") + 1 : -1]  # what the UI's Markdown loads
    assert url.startswith("http://127.0.0.1:") and len(markdown) < 1000
    status, body, kind = request(port, url[url.index("/reports/"):])
    assert (status, body, kind) == (200, png, "image/png")
    (output / "reports" / "evaluation.json").write_text("{}")
    for refused in ("/reports/evaluation.json", "/reports/..%2Fcorrections.csv", "/reports/missing.png"):
        assert request(port, refused)[0] == 404, refused


@pytest.mark.parametrize("given, status", [
    ("../secret.wav", 403), ("P/../../secret.wav", 403), ("/etc/passwd", 403), ("{base}/secret.wav", 403),
    ("P/link.wav", 403),  # in the index, but a link leading out of the archive
    ("P/not there.wav", 404), ("", 403),
])
def test_a_path_outside_the_archive_or_the_index_is_refused(page, given, status):
    port, archive, _, _ = page
    given = given.format(base=archive.parent)
    for route in ("/audio", "/picture"):
        code, body, kind = request(port, f"{route}?path={urllib.parse.quote(given)}")
        assert code == status and kind == "application/json"
        assert "\n" not in json.loads(body)["error"]


def _watched(output):
    return {path: path.read_bytes() for path in sorted(output.rglob("*")) if path.is_file()}


@pytest.mark.parametrize("body, status, message", [
    ({"path": "P/a.wav", "label": "kik"}, 400, "unknown label 'kik'"),
    ({"path": "../secret.wav", "label": "kick"}, 403, "not a path inside the archive"),
    ({"path": "P/link.wav", "label": "kick"}, 403, "leads out of the archive"),
    ({"path": "P/not there.wav", "label": "kick"}, 404, "not in the archive index"),
    ({"path": "P/a.wav"}, 400, "send JSON"),
])
def test_a_bad_correction_is_refused_in_one_line_and_changes_nothing(page, body, status, message):
    port, _, output, _ = page
    before = _watched(output)
    code, answer, _ = request(port, "/correct", body)
    error = json.loads(answer)["error"]
    assert code == status and message in error and "\n" not in error
    assert _watched(output) == before and not (output / "corrections.csv").exists()


def test_nothing_to_undo_is_refused(page):
    port, *_ = page
    code, answer, _ = request(port, "/undo", {})
    assert code == 409 and "nothing to undo" in json.loads(answer)["error"]


def test_a_port_in_use_or_no_index_is_a_one_line_error(page, tmp_path):
    port, _, _, env = page
    command = [sys.executable, "-m", "drum_pipeline.cli", "review", "--serve", "--port", str(port)]
    busy = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert busy.returncode == 2 and busy.stderr.count("\n") == 1 and f"port {port}" in busy.stderr, busy.stderr
    empty = subprocess.run(command, env={**env, "DRUM_OUTPUT_DIR": str(tmp_path)}, capture_output=True, text=True,
                           timeout=120)
    assert empty.returncode == 2 and empty.stderr.count("\n") == 1 and "run `drum-pipeline run` first" in empty.stderr
