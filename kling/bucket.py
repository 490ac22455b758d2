"""`KLING_VIDEO_STORE=s3://bucket/prefix`: the team's videos in an S3-compatible bucket.

Every finished video is uploaded when it is kept (`keep`: a job's download with its
recipe written, an assembled spot, an imported file) and played through presigned links,
so any studio replica shows any video and no replica serves it from memory. The data
folder's `videos/` is where a download is staged and a local copy kept for the work that
needs a file (assembling a spot, a zip of videos): `path_for` fetches a video there from
the bucket when it is not there already. The bucket is the truth of `exists`.

The client takes the standard `AWS_*` settings (`AWS_ENDPOINT_URL` for a server other
than Amazon's, with path-style addresses, as S3-compatible servers expect). A video that
could not be uploaded stays in the folder and is uploaded by `retry_missing`.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .archive import RETRY_MIN_AGE_S, VideoArchive, retry_candidates
from .errors import ArchiveError
from .settings import SettingsError
from .storage.atomic import replacing
from .stores import HistoryStore

log = logging.getLogger("kling.bucket")

#: How long a presigned link plays: a page left open longer is rerun long before.
LINK_LIFETIME_S = 6 * 3600


def parse_location(text: str) -> tuple[str, str]:
    """(bucket, key prefix) of `s3://bucket/prefix`; `SettingsError` otherwise."""
    parts = urlparse(text.strip())
    if parts.scheme != "s3" or not parts.netloc:
        raise SettingsError("KLING_VIDEO_STORE must look like s3://bucket/prefix, not "
                            f"{text[:60]!r}")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


def s3_client() -> Any:
    """A boto3 S3 client from the standard `AWS_*` settings."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise SettingsError("KLING_VIDEO_STORE is set, but boto3 is not installed: "
                            "pip install -r requirements-team.txt") from exc
    style = "path" if os.environ.get("AWS_ENDPOINT_URL") else "auto"
    return boto3.client("s3", config=Config(s3={"addressing_style": style},
                                            retries={"mode": "standard"}))


class BucketArchive(VideoArchive):
    """A `VideoArchive` whose videos are kept in a bucket, the folder a staging cache."""

    def __init__(self, data_dir: str | Path, location: str, *, client: Any = None) -> None:
        super().__init__(data_dir)
        self.location = location
        self.bucket, self.prefix = parse_location(location)
        self._s3 = client or s3_client()
        # An uploaded video stays until `delete`: ask the bucket about each id once.
        self._there: set[str] = set()
        self._lock = threading.Lock()

    def key(self, gen_id: str) -> str:
        """The object's key: the prefix and the archive's file name (our ids only)."""
        return f"{self.prefix}{VideoArchive.path_for(self, gen_id).name}"

    def _failed(self, what: str, exc: Exception) -> ArchiveError:
        reason = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
        return ArchiveError(f"The team's video bucket ({self.location}) could not {what} "
                            f"({reason}).",
                            hint="Check KLING_VIDEO_STORE and the AWS_* settings; the studio "
                                 "tries again later.")

    def keep(self, gen_id: str, source: Path) -> Path:
        """Keep the finished video: in the folder, then uploaded to the bucket."""
        path = super().keep(gen_id, source)
        try:
            self._s3.upload_file(str(path), self.bucket, self.key(gen_id),
                                 ExtraArgs={"ContentType": "video/mp4"})
        except Exception as exc:  # noqa: BLE001 - boto3's and botocore's many kinds
            raise self._failed("take the video", exc) from None
        with self._lock:
            self._there.add(gen_id)
        return path

    def exists(self, gen_id: str) -> bool:
        try:
            key = self.key(gen_id)
        except ArchiveError:
            return False
        with self._lock:
            if gen_id in self._there:
                return True
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:  # noqa: BLE001
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code not in ("404", "NoSuchKey", "NotFound"):
                log.warning("video bucket: %s could not be looked up: %s", key, exc)
            return False
        with self._lock:
            self._there.add(gen_id)
        return True

    def path_for(self, gen_id: str) -> Path:
        """The video's file in the folder, fetched from the bucket when it is not there
        (where the bucket has it)."""
        path = super().path_for(gen_id)
        if path.is_file() or not self.exists(gen_id):
            return path
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with replacing(path, prefix=f".{gen_id}.", suffix=".part") as out:
                self._s3.download_fileobj(self.bucket, self.key(gen_id), out)
        except Exception as exc:  # noqa: BLE001
            raise self._failed("hand over the video", exc) from None
        return path

    def url_for(self, gen_id: str, *, download_name: str | None = None) -> str | None:
        if not self.exists(gen_id):
            return None
        params = {"Bucket": self.bucket, "Key": self.key(gen_id)}
        if download_name:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
        try:
            return self._s3.generate_presigned_url("get_object", Params=params,
                                                   ExpiresIn=LINK_LIFETIME_S)
        except Exception as exc:  # noqa: BLE001
            raise self._failed("sign a link to the video", exc) from None

    def delete(self, gen_id: str) -> bool:
        there = self.exists(gen_id)
        local = super().delete(gen_id)
        if there:
            try:
                self._s3.delete_object(Bucket=self.bucket, Key=self.key(gen_id))
            except Exception as exc:  # noqa: BLE001
                raise self._failed("delete the video", exc) from None
            with self._lock:
                self._there.discard(gen_id)
        return there or local

    def retry_missing(self, history: HistoryStore, limit: int = 20, *,
                      min_age_s: float = RETRY_MIN_AGE_S) -> int:
        """Upload the videos the folder holds and the bucket lacks, then fetch again,
        from the provider's link, the succeeded generations the bucket lacks (as
        `VideoArchive.retry_missing` does for a folder); how many worked."""
        try:
            there = self._listed()
        except Exception as exc:  # noqa: BLE001
            log.warning("video bucket: %s", self._failed("list its videos", exc))
            return 0
        done = 0
        folder = sorted(self.directory.glob("*.mp4")) if self.directory.is_dir() else []
        for path in folder:
            if done >= limit:
                return done
            if f"{self.prefix}{path.name}" not in there:
                try:
                    self.keep(path.stem, path)
                    there.add(self.key(path.stem))
                    done += 1
                except ArchiveError as exc:
                    log.warning("video %s still not in the bucket: %s", path.stem, exc)
        for gen_id, url in zip(*(retry_candidates(history, min_age_s)[name]
                                 for name in ("id", "video_url"))):
            if done >= limit:
                break
            try:
                key = self.key(gen_id)
            except ArchiveError:  # a foreign row's id: not ours to name files by
                continue
            if key in there:
                continue
            try:
                path = self.keep(gen_id, self.download(gen_id, url))
            except ArchiveError as exc:
                log.warning("video of %s still not archived: %s", gen_id, exc)
                history.record_video_path(gen_id, None, archive_error=str(exc))
                continue
            history.record_video_path(gen_id, str(path))
            done += 1
        return done

    def _listed(self) -> set[str]:
        """Every key under the prefix (a page of a thousand per request)."""
        keys: set[str] = set()
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            keys.update(item["Key"] for item in page.get("Contents", ()))
        return keys
