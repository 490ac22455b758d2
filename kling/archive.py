"""The local video archive: a copy of every generated video in `data/videos/<id>.mp4`.

Firemoon returns a link on third-party blob storage whose lifetime is not documented, so
the studio keeps its own copy and the History page plays from it. Downloads stream to a
temporary name in the same folder and are renamed into place only when complete and
within the size limit, so a half-written or oversized file never looks like a video.
File names come only from our own generation ids (checked against
`kling.history.ID_PATTERN`), never from URLs or server headers.

A failed download raises `ArchiveError`; the job queue records its message in the
history and the generation still counts as succeeded. `retry_missing` tries again later.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import requests

from .errors import KlingError
from .history import check_id

if TYPE_CHECKING:
    from .history import HistoryLog

log = logging.getLogger("kling.archive")

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
_CHUNK = 1024 * 1024
#: Content types a video may be served with. Blob stores often say "octet-stream".
_ACCEPTED_TYPES = ("video/", "application/octet-stream", "binary/octet-stream",
                   "application/mp4")
#: Box types an MP4/QuickTime file can start with; anything else (an HTML error page
#: served as octet-stream, say) is not a video.
_MP4_FIRST_BOXES = (b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin")


class ArchiveError(KlingError):
    """The video could not be saved locally; the generation itself is fine."""

    kind = "archive"
    default_message = "The video could not be saved to the local archive."
    default_hint = "It can still be played from Firemoon's link for now; the studio will retry."


class VideoArchive:
    """Downloads and keeps videos under `<data_dir>/videos`."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (10, 60),
    ) -> None:
        self.directory = Path(data_dir).resolve() / "videos"
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._session = session or requests.Session()

    def path_for(self, gen_id: str) -> Path:
        """Where the video of `gen_id` lives (whether or not it is there yet)."""
        try:
            check_id(gen_id)
        except ValueError:
            raise ArchiveError(f"{str(gen_id)[:40]!r} is not a generation id, so no video "
                               "file can be named after it.",
                               hint="This is a bug in the caller; nothing was saved.") from None
        return self.directory / f"{gen_id}.mp4"

    def exists(self, gen_id: str) -> bool:
        """True when the archived video of `gen_id` is on disk (never for a foreign id)."""
        try:
            return self.path_for(gen_id).is_file()
        except ArchiveError:
            return False

    def delete(self, gen_id: str) -> bool:
        """Remove the archived video of `gen_id`; False if there was none."""
        try:
            self.path_for(gen_id).unlink()
        except (FileNotFoundError, ArchiveError):
            return False
        return True

    def download(self, gen_id: str, url: str) -> Path:
        """Stream `url` into the archive as `<gen_id>.mp4`; the final path.

        Raises `ArchiveError` (nothing left behind) when the link does not answer, is not
        a video, or is larger than `max_bytes`.
        """
        target = self.path_for(gen_id)
        if urlparse(str(url)).scheme.lower() not in ("http", "https"):
            raise ArchiveError("The video link is not an http(s) address, so it was not saved.")
        self.directory.mkdir(parents=True, exist_ok=True)
        temp = self.directory / f".{gen_id}.{uuid.uuid4().hex[:8]}.part"
        try:
            with self._session.get(url, stream=True, timeout=self.timeout) as response:
                self._check_response(response)
                self._save(response, temp)
            os.replace(temp, target)
        except requests.Timeout:
            raise ArchiveError("Downloading the video took too long, so it was not "
                               "saved.") from None
        except requests.RequestException as exc:
            raise ArchiveError("The video could not be downloaded: the storage server could "
                               f"not be reached ({type(exc).__name__}).") from None
        except OSError as exc:
            raise ArchiveError(f"The video could not be written to {self.directory} "
                               f"({exc.strerror or exc}).",
                               hint="Check free disk space and permissions of the data "
                                    "directory.") from None
        finally:
            temp.unlink(missing_ok=True)
        log.info("archived %s (%d bytes)", target.name, target.stat().st_size)
        return target

    def _check_response(self, response: requests.Response) -> None:
        if response.status_code != 200:
            expired = response.status_code in (403, 404, 410)
            raise ArchiveError(
                f"The video could not be downloaded: the storage server answered "
                f"{response.status_code}" + (" (the link may have expired)." if expired
                                             else "."),
                status=response.status_code,
            )
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type and not content_type.startswith(_ACCEPTED_TYPES):
            raise ArchiveError(f"The video link returned {content_type!r} instead of a video, "
                               "so it was not saved.")
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise ArchiveError(self._too_large_message())

    def _save(self, response: requests.Response, temp: Path) -> None:
        size, head = 0, b""
        with open(temp, "xb") as out:
            for chunk in response.iter_content(chunk_size=_CHUNK):
                if len(head) < 8:  # chunks can be tiny; look at the first 8 bytes
                    head += chunk[: 8 - len(head)]
                    if len(head) == 8 and head[4:8] not in _MP4_FIRST_BOXES:
                        raise ArchiveError(self._not_video_message())
                size += len(chunk)
                # Checked while streaming: Content-Length may be missing or wrong.
                if size > self.max_bytes:
                    raise ArchiveError(self._too_large_message())
                out.write(chunk)
            if size == 0:
                raise ArchiveError("The video link returned an empty file, so it was not saved.")
            if len(head) < 8:
                raise ArchiveError(self._not_video_message())
            out.flush()
            os.fsync(out.fileno())

    @staticmethod
    def _not_video_message() -> str:
        return "The video link returned something that is not an MP4 video, so it was not saved."

    def _too_large_message(self) -> str:
        return (f"The video is larger than the archive's limit of "
                f"{self.max_bytes / 1_000_000:,.0f} MB, so it was not saved.")

    def retry_missing(self, history: "HistoryLog", limit: int = 20) -> int:
        """Archive succeeded generations whose video is not on disk yet; how many worked.

        Each attempt is recorded in the history (`video_path`, or the reason in
        `archive_error`). Meant for occasional use (at start-up, or a button), not every
        page run: each failure adds a row to the log.
        """
        self._remove_stale_parts()
        frame = history.load()
        wanted = frame[(frame["status"] == "succeeded") & (frame["video_url"] != "")
                       & ~frame["hidden"]]
        # One directory listing instead of a stat per generation.
        on_disk = set(os.listdir(self.directory)) if self.directory.is_dir() else set()
        attempts = archived = 0
        for gen_id, url, recorded in zip(wanted["id"], wanted["video_url"],
                                         wanted["video_path"]):
            try:
                path = self.path_for(gen_id)
            except ArchiveError:  # a foreign row's id: not ours to name files by
                continue
            if path.name in on_disk:
                if not recorded:  # downloaded, but the process died before logging it
                    history.record_video_path(gen_id, str(path))
                continue
            if attempts >= limit:
                break
            attempts += 1
            try:
                path = self.download(gen_id, url)
            except ArchiveError as err:
                log.warning("video of %s still not archived: %s", gen_id, err)
                history.record_video_path(gen_id, None, archive_error=str(err))
                continue
            history.record_video_path(gen_id, str(path))
            archived += 1
        return archived

    def _remove_stale_parts(self, older_than_s: float = 3600) -> None:
        """Delete temporary files of downloads whose process died mid-way."""
        if not self.directory.is_dir():
            return
        cutoff = time.time() - older_than_s
        for part in self.directory.glob(".*.part"):
            try:
                if part.stat().st_mtime < cutoff:
                    part.unlink()
            except OSError:
                continue
