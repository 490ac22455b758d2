"""The video archive against a local HTTP server: success, limits, wrong answers, retries."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kling.archive import ArchiveError, VideoArchive
from kling.errors import KlingError
from kling.history import HistoryLog
from kling.models import GenerationRequest, GenerationResult

MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
BIG = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 50_000


class Handler(BaseHTTPRequestHandler):
    # path -> (status, content type, body, send Content-Length)
    routes = {
        "/video.mp4": (200, "video/mp4", MP4, True),
        "/octet.mp4": (200, "application/octet-stream", MP4, True),
        "/chunked.mp4": (200, "video/mp4; codecs=avc1", MP4, False),
        "/big.mp4": (200, "video/mp4", BIG, True),
        "/big-unannounced.mp4": (200, "video/mp4", BIG, False),
        "/page.html": (200, "text/html; charset=utf-8", b"<html>expired</html>", True),
        "/html-as-octet": (200, "application/octet-stream", b"<html>nope</html>", True),
        "/empty.mp4": (200, "video/mp4", b"", True),
        "/gone.mp4": (404, "text/plain", b"not found", True),
        "/broken.mp4": (500, "text/plain", b"oops", True),
    }

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        status, content_type, body, announce = self.routes.get(
            self.path, (404, "text/plain", b"", True))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if announce:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        # Tiny first chunks: the content sniffing must cope with them.
        pieces = [body[0:3], body[3:6], body[6:9]] + [body[i:i + 4096]
                                                      for i in range(9, len(body), 4096)]
        for piece in filter(None, pieces):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # the archive hangs up on oversized or wrong answers on purpose


@pytest.fixture(scope="module")
def server():
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def archive(tmp_path) -> VideoArchive:
    return VideoArchive(tmp_path / "data", max_bytes=len(MP4) + 100)


GEN = "20250101-120000-abcdef12"


def leftovers(archive: VideoArchive) -> list[Path]:
    return sorted(archive.directory.iterdir()) if archive.directory.exists() else []


@pytest.mark.parametrize("route", ["/video.mp4", "/octet.mp4", "/chunked.mp4"])
def test_download_streams_into_the_archive(archive, server, route):
    path = archive.download(GEN, server + route)
    assert path == archive.path_for(GEN) == archive.directory / f"{GEN}.mp4"
    assert path.read_bytes() == MP4
    assert leftovers(archive) == [path]  # no temporary file left
    assert archive.exists(GEN)
    assert archive.delete(GEN) and not archive.exists(GEN) and not archive.delete(GEN)


@pytest.mark.parametrize("route, words", [
    ("/big.mp4", "larger than"),
    ("/big-unannounced.mp4", "larger than"),
    ("/page.html", "'text/html' instead of a video"),
    ("/html-as-octet", "not an MP4"),
    ("/empty.mp4", "empty"),
    ("/gone.mp4", "404 (the link may have expired)"),
    ("/broken.mp4", "answered 500"),
])
def test_bad_downloads_raise_and_leave_nothing(archive, server, route, words):
    with pytest.raises(ArchiveError) as info:
        archive.download(GEN, server + route)
    assert words in str(info.value)
    assert isinstance(info.value, KlingError) and info.value.kind == "archive"
    assert leftovers(archive) == []


def test_unreachable_server_and_bad_links(archive):
    with pytest.raises(ArchiveError, match="could not be reached"):
        archive.download(GEN, "http://127.0.0.1:9/video.mp4")
    with pytest.raises(ArchiveError, match="not an http"):
        archive.download(GEN, "file:///etc/passwd")
    assert leftovers(archive) == []


@pytest.mark.parametrize("bad", ["../../etc/passwd", "a/b", "", ".hidden", "x.mp4",
                                 "https://blob.example/v.mp4", "id with space"])
def test_file_names_come_only_from_our_ids(archive, bad):
    with pytest.raises(ArchiveError):
        archive.path_for(bad)
    with pytest.raises(ArchiveError):
        archive.download(bad, "http://127.0.0.1:9/video.mp4")
    assert not archive.exists(bad) and not archive.delete(bad)


def test_an_existing_video_is_replaced_whole(archive, server):
    archive.directory.mkdir(parents=True)
    archive.path_for(GEN).write_bytes(b"old")
    with pytest.raises(ArchiveError):
        archive.download(GEN, server + "/gone.mp4")
    assert archive.path_for(GEN).read_bytes() == b"old"  # a failure never clobbers it
    archive.download(GEN, server + "/video.mp4")
    assert archive.path_for(GEN).read_bytes() == MP4


def _succeeded(history: HistoryLog, url: str) -> str:
    gen_id = history.record_pending(GenerationRequest.create("waves, drone shot", "5"))
    history.record_success(gen_id, GenerationResult.parse({
        "videos": [{"url": url, "duration": 5, "width": 1920, "height": 1088,
                    "content_type": "video/mp4"}], "seed": 1, "timings": {"inference": 12},
    }), elapsed_s=13)
    return gen_id


def test_retry_missing_archives_what_it_can_and_records_the_rest(archive, server, tmp_path):
    history = HistoryLog(tmp_path / "data")
    good = _succeeded(history, server + "/video.mp4")
    expired = _succeeded(history, server + "/gone.mp4")
    already = _succeeded(history, server + "/video.mp4")
    archive.download(already, server + "/video.mp4")
    failed = history.record_pending(GenerationRequest.create("no video", "5"))
    history.record_failure(failed, RuntimeError("boom"), elapsed_s=1)

    assert archive.retry_missing(history) == 1
    assert history.get(good)["video_path"] == str(archive.path_for(good))
    assert history.get(good)["archive_error"] == ""
    assert "may have expired" in history.get(expired)["archive_error"]
    assert history.get(expired)["video_path"] == ""
    # The one archived before but never logged gets its path recorded.
    assert history.get(already)["video_path"] == str(archive.path_for(already))
    assert archive.retry_missing(history, limit=0) == 0


def test_retry_missing_respects_the_limit(archive, server, tmp_path):
    history = HistoryLog(tmp_path / "data")
    for _ in range(3):
        _succeeded(history, server + "/video.mp4")
    assert archive.retry_missing(history, limit=2) == 2
    assert archive.retry_missing(history, limit=2) == 1
