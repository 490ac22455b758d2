"""Crash and load suite: processes killed mid-generation, and many writers at once.

* A `python -m kling` process is SIGKILLed while its generations are in flight through the
  job queue: a fresh `HistoryLog` shows each of them `interrupted`, prompt, seed and batch
  intact (while the process lived they were `pending`).
* Several processes, each with several threads, plus threads of this process, write the
  history log and the template library at the same time (own templates plus edits of one
  shared template): nothing is lost, every version is counted, both files stay readable
  by pandas / json.
* The same writers SIGKILLed at random moments: whatever a call had returned survives,
  and both files stay readable.

Writers are `tests/helpers_crash_load.py` processes; see its docstring for what they print.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pandas as pd

from helpers_crash_load import BODY, prompt_for, result_for
from isolation import isolated_environ
from kling.history import HistoryLog
from kling.models import GenerationRequest
from kling.templates import TemplateLibrary
from scripted_server import Reply, ScriptedServer

ROOT = Path(__file__).resolve().parents[1]
HELPER = Path(__file__).with_name("helpers_crash_load.py")

KEY = "fm_live_crash-SECRET-141421"


def child_env(data_dir: Path, **settings: str) -> dict[str, str]:
    return isolated_environ(**{"KLING_STUDIO_DATA_DIR": str(data_dir), "KLING_SIM_LATENCY": "0",
                               "PYTHONPATH": str(ROOT), **settings})


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def log_rows(data_dir: Path) -> pd.DataFrame:
    """Every complete line of history.csv as pandas reads it (none while it is created)."""
    path = data_dir / "history.csv"
    data = path.read_bytes() if path.exists() else b""
    if b"\n" not in data[:-1] or not data.endswith(b"\n"):
        return pd.DataFrame(columns=["id", "status"])
    return pd.read_csv(path, dtype=str, keep_default_na=False)


# ------------------------------------------------------------ killed mid-generation

BATCH = [
    ('Waves crashing on the shore, "drone shot", slow motion', "5", "16:9", 4294967295),
    ("A neon city at night,\nrain on the lens; tracking shot ünïcode ✓", "10", "9:16", 0),
    ("Sunrise over the mountains, gentle pan", "5", "16:9", 77),
]


def batch_csv(path: Path) -> Path:
    lines = ["prompt,duration,aspect_ratio,seed"]
    for prompt, duration, ratio, seed in BATCH:
        lines.append(f'"{prompt.replace(chr(34), chr(34) * 2)}",{duration},{ratio},{seed}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_sigkill_during_a_live_batch_leaves_every_generation_interrupted(tmp_path):
    """Two requests in flight at a slow server, one queued behind them, then SIGKILL."""
    data_dir = tmp_path / "data"
    # Answers nothing for a minute: every request stays in flight until the kill.
    with ScriptedServer(default=Reply(200, b"{}", delay=60)) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "kling", "batch", str(batch_csv(tmp_path / "b.csv")),
             "--concurrency", "2"],
            cwd=ROOT, env=child_env(data_dir, FIREMOON_API_KEY=KEY,
                                    FIREMOON_BASE_URL=server.url),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert server.wait_for_requests(2, timeout=30), "the batch never sent"
            wait_for(lambda: len(log_rows(data_dir)) == 3, 30, "three pending rows")
            # While the writer lives, its generations are in flight, not interrupted.
            alive = HistoryLog(data_dir).load()
            assert len(alive) == 3 and set(alive["status"]) == {"pending"}
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL
        sent = {r.json()["seed"] for r in server.requests}
        assert len(sent) == 2, "the queue sent more than its concurrency allows"

    frame = HistoryLog(data_dir).load()
    assert len(frame) == 3
    assert set(frame["status"]) == {"interrupted"}, frame[["id", "status"]]
    assert frame["batch_id"].nunique() == 1 and frame["batch_id"].iloc[0].startswith("batch-")
    assert set(frame["source"]) == {"cli"}
    by_seed = frame.set_index("seed")
    for prompt, duration, ratio, seed in BATCH:
        row = by_seed.loc[seed]
        assert (row["prompt"], row["duration"], row["aspect_ratio"]) == (prompt, duration,
                                                                        ratio)
    # The log file itself is intact and a later writer can append to it.
    assert not (data_dir / "history.torn.csv").exists()
    assert pd.read_csv(data_dir / "history.csv").shape[0] == 3


def test_sigkill_during_a_demo_generation_against_a_slow_simulator(tmp_path):
    data_dir = tmp_path / "data"
    prompt = 'Paper boat on a "puddle", macro shot, slow motion'
    process = subprocess.Popen(
        [sys.executable, "-m", "kling", "generate", "--prompt", prompt, "--seed", "31337"],
        cwd=ROOT, env=child_env(data_dir, KLING_SIM_LATENCY="60"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(log_rows(data_dir)) >= 1, 30, "the pending row")
        time.sleep(0.3)  # inside the simulated inference
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)
    rows = log_rows(data_dir)
    assert rows["status"].tolist() == ["pending"], "an outcome was logged before the kill"
    (row,) = HistoryLog(data_dir).load().to_dict("records")
    assert row["status"] == "interrupted"
    assert row["prompt"] == prompt and row["seed"] == 31337 and row["source"] == "cli"
    # The studio goes on: a later generation in the same directory logs normally.
    later = HistoryLog(data_dir)
    gen_id = later.record_pending(GenerationRequest.create("Later take, drone shot"))
    frame = HistoryLog(data_dir).load().set_index("id")
    assert frame.loc[gen_id, "status"] == "pending"
    assert frame.loc[row["id"], "status"] == "interrupted"


# ------------------------------------------------------------------ many writers at once


class Writer:
    """One helper process; `lines` parses what it reported."""

    def __init__(self, data_dir: Path, go: Path, name: str, threads: int, count: int,
                 shared_id: str) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, str(HELPER), str(data_dir), str(go), name, str(threads),
             str(count), shared_id],
            cwd=ROOT, env=child_env(data_dir), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, encoding="utf-8")

    def ready(self) -> None:
        assert self.process.stdout.readline().strip() == "ready"

    def finish(self, timeout: float = 60) -> list[str]:
        stdout, stderr = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, stderr
        assert stderr == "", stderr
        return stdout.splitlines()

    def kill(self) -> list[str]:
        os.kill(self.process.pid, signal.SIGKILL)
        stdout, _ = self.process.communicate(timeout=30)
        return stdout.splitlines()


def expected_from(lines: list[str]) -> dict:
    """What the reported lines promise is on disk."""
    promised = {"pending": set(), "outcome": {}, "templates": {}, "versions": {}}
    for line in lines:
        kind, _, rest = line.partition(" ")
        if kind == "P":
            promised["pending"].add(rest)
        elif kind in ("S", "F"):
            promised["outcome"][rest] = "succeeded" if kind == "S" else "failed"
        elif kind == "T":
            template_id, _, name = rest.partition(" ")
            promised["templates"][template_id] = name
        elif kind == "U":
            version, _, text = rest.partition(" ")
            promised["versions"][int(version)] = text
    return promised


def merge(promises: list[dict]) -> dict:
    total = {"pending": set(), "outcome": {}, "templates": {}, "versions": {}}
    for promise in promises:
        total["pending"] |= promise["pending"]
        total["outcome"].update(promise["outcome"])
        total["templates"].update(promise["templates"])
        for version, text in promise["versions"].items():
            assert version not in total["versions"], f"version {version} saved twice"
            total["versions"][version] = text
    return total


def check_files(data_dir: Path, promised: dict, shared_id: str) -> tuple[pd.DataFrame, dict]:
    """Everything promised is on disk, and both files read with plain pandas / json."""
    frame = HistoryLog(data_dir).load().set_index("id")
    raw = pd.read_csv(data_dir / "history.csv", dtype=str, keep_default_na=False)
    assert raw["status"].isin(["pending", "succeeded", "failed"]).all()
    missing = promised["pending"] - set(frame.index)
    assert not missing, f"{len(missing)} logged generations were lost"
    for gen_id, status in promised["outcome"].items():
        assert frame.loc[gen_id, "status"] == status, gen_id
    assert not (frame["status"] == "pending").any(), "a dead writer's row is still pending"

    document = json.loads((data_dir / "templates.json").read_text(encoding="utf-8"))
    stored = {entry["id"]: entry["versions"] for entry in document["templates"]}
    for template_id, name in promised["templates"].items():
        assert template_id in stored, f"template {name!r} was lost"
        assert stored[template_id][-1]["name"] == name
    shared = {v["version"]: v["description"] for v in stored[shared_id]}
    for version, text in promised["versions"].items():
        assert shared.get(version) == text, f"shared version {version} was lost"
    assert sorted(shared) == list(range(1, len(shared) + 1)), "version numbers have gaps"
    library = TemplateLibrary(data_dir)  # the studio still reads it
    assert len(library.versions(shared_id)) == len(shared)
    return frame, stored


def test_processes_and_threads_write_history_and_templates_at_once(tmp_path):
    processes, threads, count = 4, 3, 8
    data_dir = tmp_path / "data"
    go = tmp_path / "go"
    library = TemplateLibrary(data_dir)
    shared = library.create(name="Shared", body=BODY, description="v1")
    writers = [Writer(data_dir, go, f"p{n}", threads, count, shared.id)
               for n in range(processes)]
    for writer in writers:
        writer.ready()

    # This process joins in with two threads, separate instances, as a second studio would.
    local_lines: list[str] = []
    errors: list[BaseException] = []

    def local(thread: int) -> None:
        history, templates = HistoryLog(data_dir), TemplateLibrary(data_dir, lock_timeout=60)
        try:
            for i in range(count):
                seed = 900_000 + thread * 1000 + i
                gen_id = history.record_pending(GenerationRequest.create(
                    prompt_for("main", thread, i), "5", "16:9", seed), source="main")
                history.record_success(gen_id, result_for(seed), elapsed_s=1)
                template = templates.create(name=f"main t{thread} #{i}", body=BODY)
                text = f"main t{thread} edit {i}"
                saved = templates.update(shared.id, description=text)
                local_lines.extend([f"P {gen_id}", f"S {gen_id}",
                                    f"T {template.id} {template.name}",
                                    f"U {saved.version} {text}"])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    locals_ = [threading.Thread(target=local, args=(n,)) for n in range(2)]
    go.touch()
    for thread in locals_:
        thread.start()
    reports = [writer.finish() for writer in writers]
    for thread in locals_:
        thread.join(timeout=60)
    assert errors == []
    assert all(lines[-1] == "done" for lines in reports)

    promised = merge([expected_from(lines) for lines in [*reports, local_lines]])
    generations = (processes * threads + 2) * count
    assert len(promised["pending"]) == generations
    assert len(promised["templates"]) == generations
    frame, stored = check_files(data_dir, promised, shared.id)

    # Nothing lost, nothing extra: exactly two lines per generation, one id each.
    raw = pd.read_csv(data_dir / "history.csv", dtype=str, keep_default_na=False)
    assert len(raw) == 2 * generations
    assert set(Counter(raw["id"]).values()) == {2}
    assert len(frame) == generations
    assert Counter(frame["status"]) == {"succeeded": generations - processes * threads * 2,
                                        "failed": processes * threads * 2}
    for name, thread, i in [("p0", 0, 0), ("p2", 2, 5), ("main", 1, 3)]:
        prompts = set(frame["prompt"])
        assert prompt_for(name, thread, i) in prompts, "a prompt was damaged"
    assert len(stored) == generations + 1
    assert len(stored[shared.id]) == 1 + generations, "a shared-template edit was lost"
    assert not list(data_dir.glob("*.tmp")) and not list(data_dir.glob(".*.tmp"))
    assert not (data_dir / "history.torn.csv").exists()


def test_writers_killed_at_random_moments_lose_nothing_they_returned(tmp_path):
    data_dir = tmp_path / "data"
    shared = TemplateLibrary(data_dir).create(name="Shared", body=BODY, description="v1")
    rng = random.Random(8)
    promises = []
    for round_ in range(4):
        go = tmp_path / f"go-{round_}"
        writers = [Writer(data_dir, go, f"r{round_}w{n}", 2, 10_000, shared.id)
                   for n in range(3)]
        for writer in writers:
            writer.ready()
        go.touch()
        time.sleep(rng.uniform(0.2, 0.6))
        for writer in writers:
            promises.append(expected_from(writer.kill()))
        promised = merge(promises)
        assert promised["pending"], "the writers never got going"
        check_files(data_dir, promised, shared.id)
    # Leftover temporary files of a killed save never count as the library.
    # (a save may have landed after the last line its writer got to print).
    assert TemplateLibrary(data_dir).get(shared.id).version >= max(promised["versions"])
