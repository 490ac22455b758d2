"""The videos: Range requests, HEAD, only simulator-made names, and renders under
concurrent requests and latency."""

from __future__ import annotations

import http.client
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from kling.simulator.videos import video_name

from .support import PROMPT, client_for, video_facts


# --- videos --------------------------------------------------------------------------

@pytest.fixture
def video(sim) -> tuple[str, bytes]:
    with client_for(sim) as client:
        url = client.generate(prompt=PROMPT, seed=11).video.url
    return url, requests.get(url).content


@pytest.mark.parametrize("spec, first, last", [
    ("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-50", -50, None),
    ("bytes=10-10", 10, 10), ("bytes=0-999999999", 0, None),
])
def test_range_requests_get_206_with_the_right_bytes(video, spec, first, last):
    url, data = video
    response = requests.get(url, headers={"Range": spec})
    assert response.status_code == 206
    expected = data[first:None if last is None else last + 1]
    assert response.content == expected
    start = first if first >= 0 else len(data) + first
    end = start + len(expected) - 1
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
    assert int(response.headers["Content-Length"]) == len(expected)
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "video/mp4"


@pytest.mark.parametrize("spec", ["bytes={size}-", "bytes={size}-{big}", "bytes=-0"])
def test_unsatisfiable_range_gets_416(video, spec):
    url, data = video
    response = requests.get(url, headers={"Range": spec.format(size=len(data),
                                                                big=len(data) + 10)})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize("spec", ["bytes=0-1,5-9", "items=0-1", "bytes=9-2", "bytes=x-"])
def test_unusable_range_header_gets_the_whole_video(video, spec):
    url, data = video
    response = requests.get(url, headers={"Range": spec})
    assert response.status_code == 200 and response.content == data


def test_head_gives_the_headers_without_a_body(video):
    url, data = video
    response = requests.head(url)
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["Content-Length"]) == len(data)
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("path", [
    "/videos/../kling/simulator.py", "/videos/%2e%2e/%2e%2e/etc/passwd",
    "/videos/..%2f..%2fetc%2fpasswd", "/videos/" + "A" * 32 + ".mp4",
    "/videos/" + "0" * 32 + ".mp4", "/videos/", "/videos/x.mp4",
])
def test_only_simulator_made_video_names_are_served(sim, path):
    # Sent verbatim: requests would normalise the dots away.
    connection = http.client.HTTPConnection(*sim.url[len("http://"):].split(":"))
    connection.request("GET", path)
    response = connection.getresponse()
    assert response.status == 404
    assert b"root:" not in response.read()
    connection.close()


def test_partial_render_files_are_never_served(sim, video):
    url, _ = video
    name = url.rsplit("/", 1)[1][:-4]
    stray = sim.videos.directory / f".{name}-abc.part"
    stray.write_bytes(b"half")
    try:
        assert requests.get(f"{sim.url}/videos/{stray.name}").status_code == 404
    finally:
        stray.unlink()


# --- concurrency and latency ---------------------------------------------------------

def test_eight_requests_at_once_all_succeed_with_their_own_videos(make_sim, tmp_path):
    simulator = make_sim(video_dir=tmp_path)  # empty cache: all eight really render
    with client_for(simulator) as client, ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(client.generate, prompt=PROMPT, seed=1000 + i)
                   for i in range(8)]
        # The server keeps answering other requests while it renders: the balance comes
        # back (already charged for some of the eight) before the videos are all made.
        time.sleep(0.1)
        assert client.credits_balance() == pytest.approx(1000.0, abs=12)
        assert not all(future.done() for future in futures)
        results = [future.result() for future in futures]
    assert [r.seed for r in results] == [1000 + i for i in range(8)]
    urls = {r.video.url for r in results}
    assert len(urls) == 8
    blobs = {requests.get(url).content for url in urls}
    assert len(blobs) == 8
    for blob in blobs:
        assert video_facts(blob)["frames"] == 120
    assert not list(tmp_path.glob("*.part"))


def test_identical_concurrent_requests_share_one_intact_video(make_sim, tmp_path):
    simulator = make_sim(video_dir=tmp_path)
    with client_for(simulator) as client, ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: client.generate(prompt=PROMPT, seed=77), range(4)))
    assert len({r.video.url for r in results}) == 1
    assert video_facts(requests.get(results[0].video.url).content)["frames"] == 120
    assert [p.name for p in tmp_path.iterdir()] == [
        video_name(PROMPT, 77, "5", "16:9") + ".mp4"]


def test_ten_second_videos_take_about_twice_as_long(make_sim):
    simulator = make_sim(latency=(0.3, 0.3))
    with client_for(simulator) as client:
        client.generate(prompt=PROMPT, duration="10", seed=21)  # render outside the timing
        timings = {}
        for duration in ("5", "10"):
            started = time.monotonic()
            result = client.generate(prompt=PROMPT, duration=duration, seed=21)
            timings[duration] = (time.monotonic() - started, result.inference_s)
    assert timings["5"][0] >= 0.3 and timings["5"][1] >= 0.3
    assert timings["10"][0] >= 0.6 and timings["10"][1] >= 0.6
    assert timings["10"][1] <= timings["10"][0]
