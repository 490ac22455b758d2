"""The API key never leaves, not even in part: a server that echoes it anywhere.

A hostile or buggy server may echo the key (or the whole `Authorization` header) at any
place of an error message, an error list, a success body or a header. Server text is cut
to a readable length for people, so a key that straddles the cut must be scrubbed
before the cut, or its first half survives. Every echo here is checked for any piece of
the key of `FRAGMENT` characters, in everything the studio keeps or shows: the error's
text and fields, the logs, the history log, and the command line's output.
"""

from __future__ import annotations

import json
import logging
import random
import string
import subprocess
import sys

import pytest

from isolation import isolated_environ
from kling.client import KlingClient, RetryPolicy
from kling.errors import KlingError
from kling.history import HistoryLog
from kling.jobs import JobQueue
from kling.models import GenerationRequest
from scripted_server import Reply, ScriptedServer, success_body

from tests.conftest import ROOT

#: No run of this many characters of the key may appear anywhere.
FRAGMENT = 6


def make_key(length: int, seed: int) -> str:
    rng = random.Random(seed)
    return "fm_" + "".join(rng.choice(string.ascii_letters + string.digits)
                           for _ in range(length - 3))


def leaks(key: str, text: str) -> list[str]:
    return sorted({key[i:i + FRAGMENT] for i in range(len(key) - FRAGMENT + 1)
                   if key[i:i + FRAGMENT] in text})


KEYS = [make_key(length, seed) for seed, length in enumerate((12, 40, 64, 129))]
OFFSETS = (0, 1, 150, 280, 290, 295, 299, 300, 301, 310, 600)


def echoes(key: str) -> list[Reply]:
    """Error answers that put the key at many offsets of every field a message uses."""
    replies = []
    for offset in OFFSETS:
        text = "x" * offset + key + " y"
        header = "Bearer " + key
        replies += [
            Reply.error(400, text, text, errors=[text, "z" * offset + header],
                        details={"authorization": header}),
            Reply.error(401, text, "w" * offset + header),
            Reply.error(500, "Generation failed", text),
            Reply.error(418, text, text),
            Reply(302, b"", headers={"Location": "http://h/" + "p" * offset + key}),
            Reply(200, "<" * offset + key),  # not JSON: quoted as "it starts with ..."
            Reply(200, {"videos": [], "echo": text}),
            Reply.error(429, "Rate limit exceeded", text, headers={"Retry-After": "999"}),
        ]
    return replies


@pytest.mark.parametrize("key", KEYS, ids=lambda key: f"key{len(key)}")
def test_no_piece_of_the_key_survives_in_errors_or_logs(key, caplog):
    caplog.set_level(logging.DEBUG)
    replies = echoes(key)
    shown: list[str] = []
    with ScriptedServer() as server:
        server.script(*replies)
        client = KlingClient(api_key=key, base_url=server.url,
                             retry=RetryPolicy.none(), read_timeout=5)
        for _ in replies:
            with pytest.raises(KlingError) as info:
                client.generate(prompt="a cat")
            err = info.value
            shown += [str(err), repr(err), repr(vars(err)), repr(err.args)]
        client.close()
    shown.append(caplog.text)
    assert leaks(key, "\n".join(shown)) == []
    assert any("***" in text for text in shown)  # scrubbed, not silently dropped


@pytest.mark.parametrize("key", KEYS[1:3], ids=lambda key: f"key{len(key)}")
def test_a_success_that_echoes_the_key_keeps_no_piece_of_it(key, tmp_path):
    body = success_body()
    body["echo"] = {"headers": {"Authorization": f"Bearer {key}"}, "note": "k" * 297 + key}
    history = HistoryLog(tmp_path / "data")
    with ScriptedServer() as server:
        server.script(Reply(200, body))
        client = KlingClient(api_key=key, base_url=server.url, retry=RetryPolicy.none())
        queue = JobQueue(client, history)
        job = queue.submit(GenerationRequest.create("a cat"), owner="t")
        (job,) = queue.wait([job.id], timeout=30)
        queue.shutdown()
        client.close()
    assert job.result is not None
    assert leaks(key, json.dumps(job.result.raw)) == []
    assert leaks(key, (tmp_path / "data" / "history.csv").read_text(encoding="utf-8")) == []


def test_the_command_line_prints_no_piece_of_the_key(tmp_path):
    key = KEYS[2]
    body = success_body()
    body["echo"] = {"authorization": f"Bearer {key}", "cut": "c" * 299 + key}
    failing = Reply.error(400, "Invalid input", "v" * 295 + key, errors=["e" * 299 + key])
    with ScriptedServer() as server:
        server.script(Reply(200, body), failing)
        env = isolated_environ(FIREMOON_API_KEY=key, FIREMOON_BASE_URL=server.url,
                               KLING_STUDIO_DATA_DIR=str(tmp_path / "data"))
        outputs = []
        for args in (["generate", "--prompt", "a cat", "--json"],
                     ["generate", "--prompt", "a dog"],
                     ["history", "list"], ["history", "export", "--out",
                                           str(tmp_path / "export.csv")]):
            run = subprocess.run([sys.executable, "-m", "kling", *args], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
            outputs += [run.stdout, run.stderr]
    outputs.append((tmp_path / "export.csv").read_text(encoding="utf-8"))
    outputs.append((tmp_path / "data" / "history.csv").read_text(encoding="utf-8"))
    assert "***" in outputs[0]  # the --json answer, scrubbed
    assert leaks(key, "\n".join(outputs)) == []
