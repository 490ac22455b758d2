"""Serving: keep-alive, chunked bodies, a log without keys, stopping, the foreground
command and the shared per-configuration simulators."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from kling.client import KlingClient
from kling.settings import CREDITS_PATH, MODEL_PATH
from kling.simulator.config import SimulatorConfig
from kling.simulator.server import Simulator, main_simulator, shared_simulator

from .support import PROMPT, client_for, post


def test_keep_alive_connection_survives_errors_with_bodies(sim):
    host, port = sim.url[len("http://"):].split(":")
    connection = http.client.HTTPConnection(host, int(port))
    try:
        connection.request("POST", MODEL_PATH, body=b'{"prompt": "x"}',
                           headers={"Content-Type": "application/json"})
        first = connection.getresponse()
        assert first.status == 401
        first.read()
        connection.request("POST", MODEL_PATH, body=b'{"prompt": ""}',
                           headers={"Authorization": "Bearer k"})
        second = connection.getresponse()
        assert second.status == 400
        second.read()
        connection.request("GET", CREDITS_PATH, headers={"Authorization": "Bearer k"})
        third = connection.getresponse()
        assert third.status == 200 and json.loads(third.read())["balance"] == 1000.0
        assert third.getheader("Connection") != "close"
    finally:
        connection.close()


def test_chunked_request_bodies_are_read(sim):
    host, port = sim.url[len("http://"):].split(":")
    connection = http.client.HTTPConnection(host, int(port))
    try:
        connection.request("POST", MODEL_PATH, body=iter([b'{"prompt": ', b'""}']),
                           headers={"Authorization": "Bearer k"}, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 400
        assert "prompt" in json.loads(response.read())["errors"][0]
    finally:
        connection.close()


def test_authorization_is_never_logged(make_sim, caplog):
    simulator = make_sim(api_key="top-secret-key")
    with caplog.at_level(logging.DEBUG, logger="kling.simulator"):
        post(simulator, {"prompt": PROMPT, "seed": 1}, key="top-secret-key")
        post(simulator, {"prompt": PROMPT}, key="other-secret-key")
    assert "POST /api/v1/kling/kling-2-1-master" in caplog.text
    assert "secret" not in caplog.text


def test_stop_closes_idle_connections_and_the_socket():
    simulator = Simulator(SimulatorConfig(latency=(0, 0))).start()
    session = requests.Session()
    assert session.get(simulator.url + CREDITS_PATH,
                       headers={"Authorization": "Bearer k"}).status_code == 200
    video_dir = simulator.videos.directory
    assert video_dir.is_dir()
    simulator.stop()
    simulator.stop()  # a second stop is harmless
    assert not video_dir.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(simulator.url + CREDITS_PATH, timeout=2)
    session.close()
    with pytest.raises(RuntimeError):
        simulator.start()


def test_context_manager_and_foreground_serving():
    with Simulator(SimulatorConfig(latency=(0, 0))) as simulator:
        assert requests.get(simulator.url + CREDITS_PATH,
                            headers={"Authorization": "Bearer k"}).ok
    foreground = Simulator(SimulatorConfig(latency=(0, 0)))
    thread = threading.Thread(target=foreground.serve_forever)
    thread.start()
    assert requests.get(foreground.url + CREDITS_PATH,
                        headers={"Authorization": "Bearer k"}).ok
    foreground.stop()
    thread.join(2)
    assert not thread.is_alive()


def test_shared_simulator_is_one_instance_per_configuration():
    first = shared_simulator(SimulatorConfig(latency=(0.0, 0.0)))
    assert shared_simulator(SimulatorConfig(latency=(0.0, 0.0))) is first
    other = shared_simulator(SimulatorConfig(latency=(0.5, 0.5)))
    assert other is not first and other.config.latency == (0.5, 0.5)
    with KlingClient(api_key="demo", base_url=first.url) as client:
        assert client.credits_balance() is not None


def test_main_simulator_reports_a_busy_port(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main_simulator("127.0.0.1", busy.getsockname()[1], SimulatorConfig()) == 1
    assert "Cannot listen" in capsys.readouterr().err


def test_stop_ends_a_simulated_latency_at_once_with_an_unbilled_503(make_sim):
    # Ten minutes of latency: only an answer cut short by stop() arrives within the
    # client's read timeout (and the run's).
    simulator = make_sim(latency=(600.0, 600.0))
    with client_for(simulator) as client, ThreadPoolExecutor(1) as pool:
        pending = pool.submit(post, simulator, {"prompt": PROMPT, "seed": 1})
        while client.credits_balance() == 1000.0:  # paced by the round trips
            assert not pending.done(), pending.result().text
        simulator.stop()
        response = pending.result()
    assert response.status_code == 503
    assert "not billed" in response.json()["message"]
    assert simulator.account.balance == 1000.0


def test_stop_leaves_nothing_of_the_simulator_running(make_sim):
    before = set(threading.enumerate())
    simulator = make_sim(video_dir=None)
    with client_for(simulator) as client:
        url = client.generate(prompt=PROMPT, seed=4).video.url  # a render thread
    assert requests.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
    simulator.stop()
    started = [thread for thread in threading.enumerate() if thread not in before]
    assert not [t.name for t in started if t.name.startswith("kling-simulator")]
    for thread in started:  # the framework's file threads, already told to end
        thread.join(5)
    assert not [t.name for t in started if t.is_alive()]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_uvicorn_logs_nothing_for_a_simulator_even_where_it_has_handlers():
    # As in the studio: Streamlit's server gives uvicorn's loggers handlers at INFO.
    simulator = Simulator(SimulatorConfig(latency=(0, 0)))
    records = Records()
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn.access")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(records)
        logger.setLevel(logging.INFO)
    try:
        with simulator:
            assert requests.get(simulator.url + CREDITS_PATH,
                                headers={"Authorization": "Bearer k"}).ok
            assert requests.get(simulator.url + "/nothing").status_code == 404
    finally:
        for logger, level in zip(loggers, levels):
            logger.removeHandler(records)
            logger.setLevel(level)
    assert [record.getMessage() for record in records.records] == []


def test_many_clients_at_once_are_all_answered(sim):
    def remaining(client: int) -> list[str]:
        with requests.Session() as session:
            return [session.get(sim.url + CREDITS_PATH, timeout=30, headers={
                "Authorization": f"Bearer studio-{client}"}).headers["X-RateLimit-Remaining"]
                for _ in range(3)]

    with ThreadPoolExecutor(32) as pool:
        assert list(pool.map(remaining, range(64))) == [["59", "58", "57"]] * 64
