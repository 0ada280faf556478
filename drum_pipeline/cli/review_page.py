"""The review page (`drum-pipeline review --serve`): the review queue in a browser on this machine.
Each file plays from the archive (read only), with its spectrogram, what the models and its folder
name say and why it is listed; a key or a click corrects it through `correct_file`, the path of
`drum-pipeline correct`, and `z` undoes the last correction of the session."""

from __future__ import annotations

import argparse
import io
import json
import re
import socket
import sys
import threading
from functools import lru_cache
from pathlib import Path, PurePosixPath

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from drum_pipeline.archive.corrections import UNSORTED_LABELS, CorrectionError, resolve_label
from drum_pipeline.cli.commands import CorrectionUndo, correct_file, current_review_queue, undo_correction
from drum_pipeline.cli.run import StepFailed
from drum_pipeline.config.settings import REVIEW_HOST, Settings
from drum_pipeline.labels.taxonomy import load_taxonomy

PAGE = Path(__file__).with_name("review_page.html")
PLAYABLE = {".wav", ".flac", ".ogg", ".mp3"}  # what Chromium plays as it is; other formats are decoded to WAV
PLAYBACK_RATE = 44100
PLAYBACK_SECONDS = 30.0  # a decoded file plays this much at most (the archive holds one-shots)
SHOWN_COLUMNS = ["rank", "path", "label", "label_source", "predicted_label", "confidence", "chance", "model1_label",
                 "model2_label", "name_label", "folder_label", "why"]
PICTURE_NAME = re.compile(r"[A-Za-z0-9_.-]+\.png")  # the pictures of the UI's metadata (defs/metadata.picture)


class PageError(Exception):
    """A refused request: an HTTP status and a one-line message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ReviewSession:
    """The archive files the page may serve (those in the index), and the undo stack of the
    corrections made through it (one at a time)."""

    def __init__(self, args: argparse.Namespace, settings: Settings):
        self.args, self.settings = args, settings
        self.taxonomy = load_taxonomy(settings.taxonomy_path)
        self.queued = len(current_review_queue(settings))  # RuntimeError: no index yet
        self.indexed = set(settings.layout.read_partitions("archive_index", ["path"])["path"])
        self.root = settings.archive_dir.resolve()
        self.undo_stack: list[tuple[str, CorrectionUndo]] = []
        self.lock = threading.Lock()

    def items(self) -> dict:
        """The page's data: the keys' labels and the queue's rows as of now (a file corrected is no
        longer in it), with the `chance` column when the queue has one."""
        queue = current_review_queue(self.settings)
        columns = [column for column in SHOWN_COLUMNS if column in queue.columns]
        rows = json.loads(queue[columns].to_json(orient="records", force_ascii=False))
        return {"classes": list(self.taxonomy.classes), "unsorted_labels": list(UNSORTED_LABELS),
                "archive": str(self.settings.archive_dir), "items": rows}

    def archive_file(self, relpath: str) -> Path:
        """The archive file at `relpath` (POSIX, relative to the archive), resolved; PageError when
        the path leaves the archive (`..`, absolute, a link leading out) or is not in the index."""
        parts = PurePosixPath(relpath).parts
        if not relpath or relpath.startswith("/") or "\\" in relpath or ".." in parts or Path(relpath).is_absolute():
            raise PageError(403, f"{relpath!r}: not a path inside the archive")
        if relpath not in self.indexed:
            raise PageError(404, f"{relpath}: not in the archive index")
        path = (self.root / relpath).resolve()
        if not path.is_relative_to(self.root):
            raise PageError(403, f"{relpath}: leads out of the archive")
        if not path.is_file():
            raise PageError(404, f"{relpath}: no such file in the archive")
        return path

    def correct(self, relpath: str, label: str) -> dict:
        """Correct one file as `drum-pipeline correct` does; returns its new label."""
        try:
            resolve_label(self.taxonomy, label)
        except CorrectionError as exc:
            raise PageError(400, str(exc)) from None
        self.archive_file(relpath)
        with self.lock:
            try:
                correction, undo = correct_file(self.args, self.settings, str(self.settings.archive_dir.absolute()
                                                                              / relpath), label)
            except CorrectionError as exc:
                raise PageError(400, str(exc)) from None
            except StepFailed as exc:
                raise PageError(500, f"the rebuild failed: {exc}") from None
            self.undo_stack.append((relpath, undo))
        return {"path": relpath, "label": correction["label"], "label_source": "correction"}

    def undo(self) -> dict:
        """Undo the session's last correction; returns the file's label as it was."""
        with self.lock:
            if not self.undo_stack:
                raise PageError(409, "nothing to undo: no correction was made on this page")
            relpath, undo = self.undo_stack[-1]
            try:
                undo_correction(self.args, self.settings, undo)
            except StepFailed as exc:
                raise PageError(500, f"the rebuild failed: {exc}") from None
            self.undo_stack.pop()
        row = undo.rows[undo.rows["path"] == relpath].iloc[0]
        return {"path": relpath, "label": row["label"], "label_source": row.get("label_source") or "sound"}


@lru_cache(maxsize=512)
def _spectrogram(path: str, mtime_ns: int) -> bytes:
    """The PNG of a file's log-mel spectrogram as the models see it, kept in memory per (path, mtime)."""
    from drum_pipeline.audio.features import FeatureParams, file_logmel
    from drum_pipeline.plots import spectrogram_png

    return spectrogram_png(file_logmel(path, FeatureParams()))


def _as_wav(path: Path) -> bytes:
    """A file Chromium cannot play (AIFF, ...), decoded by the project's loader as a mono 16-bit WAV."""
    import soundfile as sf

    from drum_pipeline.audio.loader import load_window

    audio = load_window(path, PLAYBACK_RATE, PLAYBACK_SECONDS)
    buffer = io.BytesIO()
    sf.write(buffer, audio.samples, audio.sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _refusal(exc: Exception) -> JSONResponse:
    """A refused request as JSON {"error": one line}: the PageError's status, 422 for audio that does not decode."""
    if isinstance(exc, PageError):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    return JSONResponse({"error": f"cannot decode: {exc}"}, status_code=422)


def review_app(session: ReviewSession) -> Starlette:
    """The page and its routes: the queue, a file's audio and picture, a correction, an undo, and
    the pictures the Dagster UI shows in its metadata."""
    from drum_pipeline.audio.loader import AudioLoadError

    def refusing(handler):
        def endpoint(request: Request) -> Response:
            try:
                return handler(request)
            except (PageError, AudioLoadError) as exc:
                return _refusal(exc)
        return endpoint

    def page(request: Request) -> Response:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    def queue(request: Request) -> Response:
        return JSONResponse(session.items())

    def audio(request: Request) -> Response:
        path = session.archive_file(request.query_params.get("path", ""))
        if path.suffix.lower() in PLAYABLE:
            return FileResponse(path)
        return Response(_as_wav(path), media_type="audio/wav")

    def picture(request: Request) -> Response:
        path = session.archive_file(request.query_params.get("path", ""))
        return Response(_spectrogram(str(path), path.stat().st_mtime_ns), media_type="image/png",
                        headers={"Cache-Control": "max-age=3600"})

    async def correct(request: Request) -> Response:
        try:
            body = await request.json()
            relpath, label = str(body["path"]), str(body["label"])
        except (ValueError, KeyError, TypeError):
            return _refusal(PageError(400, 'send JSON {"path": ..., "label": ...}'))
        try:  # the rebuild takes seconds: off the event loop
            return JSONResponse(await run_in_threadpool(session.correct, relpath, label))
        except PageError as exc:
            return _refusal(exc)

    def undo(request: Request) -> Response:
        return JSONResponse(session.undo())

    def report_picture(request: Request) -> Response:
        """A picture of the Dagster UI's metadata, from the output folder's reports (nothing else)."""
        name = request.path_params["name"]
        path = session.settings.layout.reports_dir / name
        if not PICTURE_NAME.fullmatch(name) or not path.is_file():
            raise PageError(404, f"{name}: no such picture in {session.settings.layout.reports_dir}")
        return FileResponse(path, media_type="image/png")

    return Starlette(routes=[
        Route("/", page), Route("/queue", refusing(queue)), Route("/audio", refusing(audio)),
        Route("/picture", refusing(picture)), Route("/correct", correct, methods=["POST"]),
        Route("/undo", refusing(undo), methods=["POST"]), Route("/reports/{name}", refusing(report_picture)),
    ])


def serve(args: argparse.Namespace, settings: Settings, port: int) -> int:
    """Serve the review page on http://127.0.0.1:PORT until Ctrl-C; a port in use or no index yet
    is a one-line error."""
    import uvicorn

    session = ReviewSession(args, settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((REVIEW_HOST, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"port {port} on {REVIEW_HOST} is not free ({exc.strerror}): choose another with --port") from None
    server = uvicorn.Server(uvicorn.Config(review_app(session), log_level="warning", access_log=False))
    print(f"drum-pipeline: reviewing {session.queued} files at http://{REVIEW_HOST}:{sock.getsockname()[1]}/ "
          "(Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn stops on Ctrl-C, then raises it again
    finally:
        sock.close()
    print(f"drum-pipeline: review page stopped ({len(session.undo_stack)} corrections kept)", file=sys.stderr)
    return 0

