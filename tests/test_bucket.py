"""The team's video bucket (`KLING_VIDEO_STORE`) against a real S3-compatible server on
loopback (moto's server mode): what is kept is uploaded, played and downloaded through
presigned links, fetched by a replica that never had it, deleted, and uploaded later
when the bucket was away."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import boto3
import pytest
import requests

from kling.assembly import read_recipe
from kling.bucket import BucketArchive
from kling.errors import ArchiveError
from kling.history import HistoryLog
from kling.jobs import JobQueue
from kling.models import GenerationRequest
from kling.settings import Settings, SettingsError
from kling.simulator import SimulatorConfig
from kling.simulator.server import Simulator
from kling.client import KlingClient, RetryPolicy
from tests.net import free_port

MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_server, monkeypatch) -> str:
    """A new, empty bucket on the server, reached by the AWS settings; its store URL."""
    for name, value in {"AWS_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "test",
                        "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_REGION": "us-east-1"
                        }.items():
        monkeypatch.setenv(name, value)
    name = f"team-videos-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return f"s3://{name}/studio"


def test_a_kept_video_is_in_the_bucket_and_plays_from_a_presigned_link(bucket, tmp_path):
    archive = BucketArchive(tmp_path / "a", bucket)
    gen = "20250101-000000-aaaaaaaa"
    assert not archive.exists(gen) and archive.url_for(gen) is None
    source = tmp_path / "made.mp4"
    source.write_bytes(MP4)
    archive.keep(gen, source)
    link = archive.url_for(gen)
    answer = requests.get(link, timeout=10)
    assert answer.content == MP4 and answer.headers["Content-Type"] == "video/mp4"
    saved = requests.get(archive.url_for(gen, download_name="kling-a.mp4"), timeout=10)
    assert 'filename="kling-a.mp4"' in saved.headers["Content-Disposition"]
    part = requests.get(link, headers={"Range": "bytes=4-11"}, timeout=10)
    assert part.status_code == 206 and part.content == b"ftypmp42"  # a player can seek

    other = BucketArchive(tmp_path / "b", bucket)  # another replica, its folder empty
    assert other.exists(gen) and other.path_for(gen).read_bytes() == MP4
    assert other.delete(gen)
    assert not BucketArchive(tmp_path / "c", bucket).exists(gen)


def test_a_job_keeps_its_video_with_its_recipe_in_the_bucket(bucket, tmp_path):
    archive = BucketArchive(tmp_path / "data", bucket)
    with Simulator(SimulatorConfig(latency=(0, 0))).start() as sim:
        client = KlingClient(api_key="demo", base_url=sim.url, retry=RetryPolicy.none())
        queue = JobQueue(client, HistoryLog(tmp_path / "data"), archive)
        job = queue.submit(GenerationRequest.create("A kite over dunes, drone shot", "5",
                                                    "16:9", 3), owner="me")
        (job,) = queue.wait([job.id], timeout=60)
        queue.shutdown()
    assert job.archive_error is None
    fresh = BucketArchive(tmp_path / "elsewhere", bucket)
    assert read_recipe(fresh.path_for(job.id))["seed"] == 3


def test_a_video_the_bucket_missed_is_uploaded_later(bucket, tmp_path, s3_server,
                                                     monkeypatch):
    gen = "20250101-000000-bbbbbbbb"
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # away
    away = BucketArchive(tmp_path / "data", bucket)
    source = tmp_path / "made.mp4"
    source.write_bytes(MP4)
    with pytest.raises(ArchiveError) as failed:
        away.keep(gen, source)
    assert "could not take the video" in str(failed.value)
    assert "test-secret" not in str(failed.value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)  # back
    back = BucketArchive(tmp_path / "data", bucket)
    assert not back.exists(gen)
    assert back.retry_missing(HistoryLog(tmp_path / "data")) == 1
    assert BucketArchive(tmp_path / "other", bucket).path_for(gen).read_bytes() == MP4


@pytest.mark.parametrize("value", ["videos", "s3://", "s3://Big_Bucket/x", "https://x/y"])
def test_a_store_that_is_not_a_bucket_is_refused(value):
    with pytest.raises(SettingsError, match="KLING_VIDEO_STORE must look like s3://"):
        Settings.load({"KLING_VIDEO_STORE": value}, secrets_path=Path("/nonexistent"))


def test_a_replica_fetches_again_only_what_the_bucket_lacks(bucket, tmp_path):
    history = HistoryLog(tmp_path / "history")
    name = bucket.split("/")[2]
    client = boto3.client("s3")
    client.put_object(Bucket=name, Key="provider/made.mp4", Body=MP4)
    provider_link = client.generate_presigned_url(
        "get_object", Params={"Bucket": name, "Key": "provider/made.mp4"})
    gone = f"http://127.0.0.1:{free_port()}/expired.mp4"
    kept, lost = (history.record_pending(GenerationRequest.create(p, "5", "16:9", 1))
                  for p in ("Kept in the bucket, pan", "Lost on the way, pan"))
    for gen_id, url in ((kept, gone), (lost, provider_link)):
        history.record_success(gen_id, _result(url), elapsed_s=1)
    source = tmp_path / "made.mp4"
    source.write_bytes(MP4)
    BucketArchive(tmp_path / "worker", bucket).keep(kept, source)
    replica = BucketArchive(tmp_path / "replica", bucket)  # its folder empty
    assert replica.retry_missing(history, min_age_s=0) == 1
    assert history.get(kept)["archive_error"] == ""  # never fetched from its dead link
    assert replica.exists(lost) and history.get(lost)["video_path"].endswith(f"{lost}.mp4")


def _result(url: str):
    from kling.models import GenerationResult

    return GenerationResult.parse({"videos": [{"url": url, "duration": 5, "width": 640,
                                               "height": 360, "content_type": "video/mp4"}],
                                   "seed": 1, "timings": {"inference": 2}})
