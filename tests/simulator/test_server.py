"""Serving: keep-alive, chunked bodies, a log without keys, stopping, the foreground
command and the shared per-configuration simulators."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time

import pytest
import requests

from kling.client import KlingClient
from kling.settings import CREDITS_PATH, MODEL_PATH
from kling.simulator.config import SimulatorConfig
from kling.simulator.server import Simulator, main_simulator, shared_simulator

from .support import PROMPT, post


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
    video_dir = simulator.video_dir
    assert video_dir.is_dir()
    started = time.monotonic()
    simulator.stop()
    simulator.stop()
    assert time.monotonic() - started < 2
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
