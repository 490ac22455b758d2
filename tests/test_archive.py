"""The video archive against a local HTTP server: success, limits, wrong answers, retries."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest.mock import patch

import pytest

from kling.archive import VideoArchive
from kling.errors import ArchiveError
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


def _succeeded(history: HistoryLog, url: str, *, minutes_ago: float = 60) -> str:
    """A generation that succeeded `minutes_ago` (its job long done, unless recent)."""
    then = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    with patch("kling.history.changes.now_iso", lambda: then.isoformat(timespec="milliseconds")):
        gen_id = history.record_pending(GenerationRequest.create("waves, drone shot", "5"))
        history.record_success(gen_id, GenerationResult.parse({
            "videos": [{"url": url, "duration": 5, "width": 1920, "height": 1088,
                        "content_type": "video/mp4"}], "seed": 1,
            "timings": {"inference": 12},
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


# -- the archive folder cannot be written ----------------------------------------------------

def test_videos_folder_that_is_a_file_raises_archive_error(archive, server):
    archive.directory.parent.mkdir(parents=True)
    archive.directory.write_bytes(b"not a folder")
    with pytest.raises(ArchiveError) as info:
        archive.download(GEN, server + "/video.mp4")
    assert "is a file, not a folder" in str(info.value)
    assert isinstance(info.value, KlingError) and info.value.kind == "archive"
    assert archive.directory.read_bytes() == b"not a folder"  # untouched


def test_data_dir_that_is_a_file_raises_archive_error(tmp_path, server):
    (tmp_path / "data").write_bytes(b"x")
    archive = VideoArchive(tmp_path / "data")
    with pytest.raises(ArchiveError, match="could not be written to"):
        archive.download(GEN, server + "/video.mp4")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unwritable_videos_folder_raises_archive_error(archive, server):
    archive.directory.mkdir(parents=True)
    archive.directory.chmod(0o500)
    try:
        with pytest.raises(ArchiveError, match="Permission denied"):
            archive.download(GEN, server + "/video.mp4")
    finally:
        archive.directory.chmod(0o700)


def test_permission_denied_while_creating_the_folder_raises_archive_error(
        archive, server, monkeypatch):
    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", denied)
    with pytest.raises(ArchiveError, match=r"could not be written to .*Permission denied"):
        archive.download(GEN, server + "/video.mp4")


def test_retry_missing_records_a_folder_that_is_a_file_and_goes_on(archive, server,
                                                                   tmp_path):
    history = HistoryLog(tmp_path / "data")
    gen_id = _succeeded(history, server + "/video.mp4")
    archive.directory.write_bytes(b"not a folder")
    assert archive.retry_missing(history) == 0
    assert "is a file" in history.get(gen_id)["archive_error"]


# -- retries never race a job or erase a video -----------------------------------------------

def test_retry_missing_leaves_recent_generations_to_their_job(archive, server, tmp_path):
    history = HistoryLog(tmp_path / "data")
    fresh = _succeeded(history, server + "/gone.mp4", minutes_ago=2)
    size = history.path.stat().st_size
    assert archive.retry_missing(history) == 0
    assert history.path.stat().st_size == size  # nothing tried, nothing written
    assert history.get(fresh)["archive_error"] == ""
    # Once it is old enough, it is a candidate like any other.
    assert archive.retry_missing(history, min_age_s=60) == 0
    assert "may have expired" in history.get(fresh)["archive_error"]


def test_a_recent_generation_whose_job_gave_up_is_retried(archive, server, tmp_path):
    # Its job logged the failed download, so no download of it is running any more.
    history = HistoryLog(tmp_path / "data")
    gen_id = _succeeded(history, server + "/video.mp4", minutes_ago=1)
    history.record_video_path(gen_id, None, archive_error="network down")
    assert archive.retry_missing(history) == 1
    row = history.get(gen_id)
    assert row["video_path"] == str(archive.path_for(gen_id)) and row["archive_error"] == ""


def test_retry_missing_skips_a_download_in_progress(archive, server, tmp_path):
    history = HistoryLog(tmp_path / "data")
    gen_id = _succeeded(history, server + "/video.mp4")
    archive.directory.mkdir(parents=True)
    (archive.directory / f".{gen_id}.0123abcd.part").write_bytes(b"\x00\x00")
    assert archive.retry_missing(history) == 0
    assert not archive.exists(gen_id) and history.get(gen_id)["archive_error"] == ""


def test_retry_missing_never_erases_a_recorded_video_that_exists(archive, server, tmp_path):
    history = HistoryLog(tmp_path / "data")
    elsewhere = tmp_path / "old-layout" / "kept.mp4"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(MP4)
    kept = _succeeded(history, server + "/gone.mp4")  # its link has expired
    history.record_video_path(kept, str(elsewhere))
    size = history.path.stat().st_size

    assert archive.retry_missing(history, min_age_s=0) == 0
    row = history.get(kept)
    assert row["video_path"] == str(elsewhere) and row["archive_error"] == ""
    assert history.path.stat().st_size == size  # not even a row was added
    assert not archive.exists(kept)


def test_retry_missing_replaces_a_recorded_video_that_is_gone(archive, server, tmp_path):
    history = HistoryLog(tmp_path / "data")
    lost = _succeeded(history, server + "/video.mp4")
    expired = _succeeded(history, server + "/gone.mp4")
    for gen_id in (lost, expired):
        history.record_video_path(gen_id, str(tmp_path / "deleted" / f"{gen_id}.mp4"))

    assert archive.retry_missing(history) == 1
    assert history.get(lost)["video_path"] == str(archive.path_for(lost))
    row = history.get(expired)
    assert row["video_path"] == "" and "may have expired" in row["archive_error"]


def test_a_failed_retry_never_overwrites_what_the_job_archived_meanwhile(
        archive, server, tmp_path, monkeypatch):
    # The job finished its own download while the retry's attempt was failing.
    history = HistoryLog(tmp_path / "data")
    gen_id = _succeeded(history, server + "/video.mp4")
    real_download = VideoArchive.download

    def job_wins_the_race(self, gen, url):
        path = real_download(self, gen, url)  # what the job did
        history.record_video_path(gen, str(path))
        raise ArchiveError("The video could not be downloaded: the storage server "
                           "answered 500.")

    monkeypatch.setattr(VideoArchive, "download", job_wins_the_race)
    assert archive.retry_missing(history) == 0
    row = history.get(gen_id)
    assert row["video_path"] == str(archive.path_for(gen_id)) and row["archive_error"] == ""

    # Recorded by another process, in a place only the history knows about.
    other = _succeeded(history, server + "/video.mp4")
    elsewhere = tmp_path / "elsewhere.mp4"

    def other_process_wins(self, gen, url):
        elsewhere.write_bytes(MP4)
        HistoryLog(tmp_path / "data").record_video_path(gen, str(elsewhere))
        raise ArchiveError("The video could not be downloaded: the storage server "
                           "answered 500.")

    monkeypatch.setattr(VideoArchive, "download", other_process_wins)
    assert archive.retry_missing(history) == 0
    row = history.get(other)
    assert row["video_path"] == str(elsewhere) and row["archive_error"] == ""
