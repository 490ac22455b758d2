"""The history log under concurrent writers and under processes killed mid-append."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd

from kling.history import HistoryLog
from kling.models import GenerationRequest, GenerationResult

ROOT = Path(__file__).resolve().parents[2]
PROCESSES, THREADS, APPENDS = 4, 4, 50

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from kling.history import HistoryLog
    from kling.models import GenerationRequest
    data_dir, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    log = HistoryLog(data_dir)
    print("ready", flush=True)
    while not (data_dir / "go").exists():  # start together with the others
        time.sleep(0.002)
    for i in range(count):
        prompt = f"{name} take {i}, with a comma and a \\"quote\\"\\nand a second line"
        print(log.record_pending(GenerationRequest(prompt, "5", "16:9", i)), flush=True)
""")


def test_processes_and_threads_append_at_once(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [subprocess.Popen([sys.executable, "-c", WRITER, str(data_dir), f"p{n}",
                                  str(APPENDS)], stdout=subprocess.PIPE, text=True, env=env)
                for n in range(PROCESSES)]
    for child in children:
        assert child.stdout.readline().strip() == "ready"

    # Two logs in one process (the studio and a command, say) share only the file lock.
    logs = [HistoryLog(data_dir), HistoryLog(data_dir)]
    log = logs[0]
    thread_ids: list[str] = []

    def write(name: str, log: HistoryLog) -> None:
        for i in range(APPENDS):
            request = GenerationRequest(f"{name} take {i}, \"quoted\"\nline two", "10", "9:16", i)
            thread_ids.append(log.record_pending(request))

    threads = [threading.Thread(target=write, args=(f"t{n}", logs[n % 2]))
               for n in range(THREADS)]
    (data_dir / "go").touch()
    for thread in threads:
        thread.start()
    process_ids = []
    for child in children:
        out, _ = child.communicate(timeout=60)
        assert child.returncode == 0
        process_ids += out.split()
    for thread in threads:
        thread.join()

    expected = (PROCESSES + THREADS) * APPENDS
    assert len(process_ids) + len(thread_ids) == expected
    raw = log.path.read_bytes()
    # One CRLF-terminated record per row (each prompt holds a newline of its own).
    assert raw.count(b"\r\n") == expected + 1 and raw.endswith(b"\r\n")
    assert raw.count(b"\n") == 2 * expected + 1
    plain = pd.read_csv(log.path)
    assert len(plain) == expected and plain["id"].is_unique
    assert set(plain["id"]) == set(process_ids) | set(thread_ids)
    frame = HistoryLog(data_dir).load()
    assert len(frame) == expected
    assert frame["prompt"].str.contains("\n").all()
    assert not log.torn_path.exists()


def _append_until_killed(data_dir: str, fd: int, seed: int) -> None:
    """Child: append pending and success rows forever, reporting each returned append."""
    rng = random.Random(seed)
    log = HistoryLog(data_dir)
    body = {"videos": [{"url": "https://blob.example/v.mp4", "duration": 5, "width": 1920,
                        "height": 1088, "content_type": "video/mp4"}],
            "seed": 1, "timings": {"inference": 12.0}}
    while True:
        prompt = "x" * rng.randint(1, 3000) + "\n\"end\""  # rows of varied sizes
        gen_id = log.record_pending(GenerationRequest(prompt, "5", "16:9", 1))
        os.write(fd, f"P {gen_id}\n".encode())
        if rng.random() < 0.5:
            log.record_success(gen_id, GenerationResult.parse(body), elapsed_s=1)
            os.write(fd, f"S {gen_id}\n".encode())


def test_appends_that_returned_survive_sigkill_at_random_moments(tmp_path):
    data_dir = tmp_path / "data"
    context = multiprocessing.get_context("fork")  # children start in milliseconds
    rng = random.Random(1)
    for round_ in range(15):
        read_end, write_end = os.pipe()
        children = [context.Process(target=_append_until_killed,
                                    args=(str(data_dir), write_end, round_ * 10 + n))
                    for n in range(2)]
        for child in children:
            child.start()
        os.close(write_end)
        time.sleep(rng.uniform(0.02, 0.25))
        for child in children:
            os.kill(child.pid, signal.SIGKILL)
        for child in children:
            child.join()
        reports = b""
        while chunk := os.read(read_end, 1 << 16):
            reports += chunk
        os.close(read_end)

        pending = {line.split()[1] for line in reports.decode().splitlines()
                   if line.startswith("P ")}
        succeeded = {line.split()[1] for line in reports.decode().splitlines()
                     if line.startswith("S ")}
        frame = HistoryLog(data_dir).load().set_index("id")
        assert pending <= set(frame.index), f"round {round_}: returned appends missing"
        assert (frame.loc[list(succeeded), "status"] == "succeeded").all()
        # Every writer is dead: nothing is left pending.
        assert not (frame["status"] == "pending").any()
        assert pd.read_csv(data_dir / "history.csv").shape[0] >= len(pending)
