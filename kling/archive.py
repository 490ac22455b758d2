"""The local video archive: a copy of every generated video in `data/videos/<id>.mp4`.

Firemoon returns a link on third-party blob storage whose lifetime is not documented, so
the studio keeps its own copy and the History page plays from it. Downloads stream to a
temporary name in the same folder and are renamed into place only when complete and
within the size limit (`kling.storage.atomic`), so a half-written or oversized file never
looks like a video. File names come only from our own generation ids (checked against
`kling.history.schema.ID_PATTERN`), never from URLs or server headers.

A failed download raises `ArchiveError`; the job queue records its message in the
history and the generation still counts as succeeded. `retry_missing` tries again later.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlparse

import pandas as pd
import requests

from .errors import ArchiveError
from .history.query import HistoryQuery
from .history.schema import check_id
from .storage.atomic import replacing

if TYPE_CHECKING:
    from .history.store import HistoryLog
    from .stores import HistoryStore

log = logging.getLogger("kling.archive")

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
#: `retry_missing` leaves generations that finished less than this long ago to their
#: own job, which may be downloading the video right now (here or in another process).
RETRY_MIN_AGE_S = 10 * 60
#: Older provider links are gone: hosts of the model keep results from an hour to 30 days.
RETRY_WINDOW_DAYS = 30
_CHUNK = 1024 * 1024
#: Content types a video may be served with. Blob stores often say "octet-stream".
_ACCEPTED_TYPES = ("video/", "application/octet-stream", "binary/octet-stream",
                   "application/mp4")
#: Box types an MP4/QuickTime file can start with; anything else (an HTML error page
#: served as octet-stream, say) is not a video.
_MP4_FIRST_BOXES = (b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin")


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

    def keep(self, gen_id: str, source: Path) -> Path:
        """Keep a finished video file as the archived video of `gen_id`: copied into the
        archive as `<gen_id>.mp4` (whole or not at all) unless it is the archive's file
        already. The final path; `ArchiveError` when it cannot be read or written."""
        target = self.path_for(gen_id)
        if Path(source).resolve() == target.resolve():
            return target
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(source, "rb") as video, replacing(
                    target, prefix=f".{gen_id}.", suffix=".part") as out:
                shutil.copyfileobj(video, out, _CHUNK)
        except OSError as exc:
            raise ArchiveError(self._os_error_message(exc),
                               hint="Check that the videos folder is writable and has "
                                    "free space.") from None
        return target

    def url_for(self, gen_id: str, *, download_name: str | None = None) -> str | None:
        """A link the browser plays (or, with `download_name`, saves) the video from
        directly; None: the studio serves the archived file itself."""
        return None

    def download(self, gen_id: str, url: str) -> Path:
        """Stream `url` into the archive as `<gen_id>.mp4`; the final path.

        Raises `ArchiveError` (nothing left behind) when the link does not answer, is not
        a video, or is larger than `max_bytes`.
        """
        target = self.path_for(gen_id)
        if urlparse(str(url)).scheme.lower() not in ("http", "https"):
            raise ArchiveError("The video link is not an http(s) address, so it was not saved.")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self._session.get(url, stream=True, timeout=self.timeout) as response:
                self._check_response(response)
                # `.<id>.<8 hex>.part` while it streams: `retry_missing` knows it by that.
                with replacing(target, prefix=f".{gen_id}.", suffix=".part") as out:
                    self._save(response, out)
        except requests.Timeout:
            raise ArchiveError("Downloading the video took too long, so it was not "
                               "saved.") from None
        except requests.RequestException as exc:  # before OSError: it is one
            raise ArchiveError("The video could not be downloaded: the storage server could "
                               f"not be reached ({type(exc).__name__}).") from None
        except OSError as exc:
            raise ArchiveError(self._os_error_message(exc),
                               hint="Check that the data directory's videos folder is a "
                                    "folder, is writable and has free space.") from None
        try:
            log.info("archived %s (%d bytes)", target.name, target.stat().st_size)
        except OSError:
            pass
        return target

    def _os_error_message(self, exc: OSError) -> str:
        try:
            not_a_folder = self.directory.exists() and not self.directory.is_dir()
        except OSError:
            not_a_folder = False
        if not_a_folder:
            return (f"The video could not be saved: {self.directory} is a file, not a "
                    "folder.")
        reason = exc.strerror or str(exc) or type(exc).__name__
        return f"The video could not be written to {self.directory} ({reason})."

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

    def _save(self, response: requests.Response, out: BinaryIO) -> None:
        size, head = 0, b""
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

    @staticmethod
    def _not_video_message() -> str:
        return "The video link returned something that is not an MP4 video, so it was not saved."

    def _too_large_message(self) -> str:
        return (f"The video is larger than the archive's limit of "
                f"{self.max_bytes / 1_000_000:,.0f} MB, so it was not saved.")

    def retry_missing(self, history: "HistoryLog", limit: int = 20, *,
                      min_age_s: float = RETRY_MIN_AGE_S) -> int:
        """Archive succeeded generations whose video is not on disk yet; how many worked.

        Candidates are generations never archived, or whose recorded file is gone. Left
        alone: a recorded `video_path` whose file exists (wherever it is); generations
        that finished less than `min_age_s` ago and whose job has not logged its own
        attempt yet (a path or an `archive_error`), since that job may be downloading
        right now, in this process or another; and any with a download in progress (a
        `.part` file). Each attempt is recorded in the history (`video_path`, or the
        reason in `archive_error`); a failure never overwrites a video archived
        meanwhile by the job itself. Meant for occasional use (at start-up, or a
        button), not every page run: each failure adds a row to the log.
        """
        self._remove_stale_parts()
        wanted = retry_candidates(history, min_age_s)
        # One directory listing instead of a stat per generation.
        try:
            on_disk = set(os.listdir(self.directory)) if self.directory.is_dir() else set()
        except OSError:
            on_disk = set()
        downloading = {name.split(".")[1] for name in on_disk
                       if name.startswith(".") and name.endswith(".part")}
        attempts = archived = 0
        for gen_id, url, recorded in zip(wanted["id"], wanted["video_url"],
                                         wanted["video_path"]):
            try:
                path = self.path_for(gen_id)
            except ArchiveError:  # a foreign row's id: not ours to name files by
                continue
            if gen_id in downloading:
                continue
            if path.name in on_disk:
                if recorded != str(path) and not _is_file(recorded):
                    # Downloaded, but the process died before logging it.
                    history.record_video_path(gen_id, str(path))
                continue
            if _is_file(recorded):  # kept elsewhere (an older layout, say): leave it
                continue
            if attempts >= limit:
                break
            attempts += 1
            try:
                path = self.keep(gen_id, self.download(gen_id, url))
            except ArchiveError as err:
                log.warning("video of %s still not archived: %s", gen_id, err)
                self._record_failure(history, gen_id, str(err))
                continue
            history.record_video_path(gen_id, str(path))
            archived += 1
        return archived

    def _record_failure(self, history: "HistoryLog", gen_id: str, reason: str) -> None:
        """Log a failed retry, unless the video was archived meanwhile (by its job)."""
        if self.exists(gen_id):
            return  # the job's own download finished: it records the path itself
        current = history.get(gen_id) or {}
        if _is_file(current.get("video_path")):
            return  # never write "no video" over a recorded file that is there
        history.record_video_path(gen_id, None, archive_error=reason)

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


def retry_candidates(history: "HistoryStore", min_age_s: float) -> pd.DataFrame:
    """The visible succeeded generations of the last `RETRY_WINDOW_DAYS` with a provider
    link that an archive may fetch again: not one whose job may be downloading it now."""
    since = date.today() - timedelta(days=RETRY_WINDOW_DAYS)
    wanted = history.query(HistoryQuery(statuses=("succeeded",), date_from=since))
    wanted = wanted[wanted["video_url"] != ""]
    # A success with neither a path nor an archive error logged may still be
    # downloading in its job (which logs one of them when done): leave it alone until
    # it finished (or, without a finish time, was created) `min_age_s` ago.
    finished = wanted["finished_at"].fillna(wanted["created_at"])
    cutoff = pd.Timestamp.now(tz="UTC") - pd.Timedelta(seconds=max(min_age_s, 0))
    recent = (finished > cutoff).to_numpy(dtype=bool, na_value=False)
    settled = ((wanted["video_path"] != "") | (wanted["archive_error"] != "")).to_numpy(
        dtype=bool)
    return wanted[settled | ~recent]


def _is_file(path: object) -> bool:
    """True when `path` is a recorded path (non-blank text) of an existing file."""
    if not isinstance(path, str) or not path:
        return False
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False
