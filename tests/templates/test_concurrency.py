"""Many studios saving at once, from processes and from threads: no template and no
version is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from kling.templates.library import TemplateLibrary

from .support import BODY

ROOT = Path(__file__).resolve().parents[2]

# Each process says it is ready, then waits for the word to go on stdin: all of them save
# at the same moment, without anyone waiting a guessed time.
WORKER = """
import sys
from kling.templates import TemplateLibrary
data_dir, worker, count, mode = sys.argv[1:5]
library = TemplateLibrary(data_dir)
print("ready", flush=True)
sys.stdin.readline()
for i in range(int(count)):
    if mode == "create":
        library.create(name=f"worker {worker} #{i}", body="Waves crashing, drone shot, slow mo")
    else:
        library.update(mode, description=f"worker {worker} edit {i}")
"""


def run_workers(data_dir: Path, workers: int, count: int, mode: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen([sys.executable, "-c", WORKER, str(data_dir), str(n),
                                   str(count), mode], env=env, cwd=ROOT, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
                 for n in range(workers)]
    for process in processes:
        assert process.stdout.readline() == "ready\n", process.communicate()[1]
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr


def test_concurrent_creates_from_several_processes_all_survive(tmp_path):
    data_dir = tmp_path / "data"
    run_workers(data_dir, workers=4, count=12, mode="create")
    document = json.loads((data_dir / "templates.json").read_text(encoding="utf-8"))
    names = {entry["versions"][-1]["name"] for entry in document["templates"]}
    assert names == {f"worker {w} #{i}" for w in range(4) for i in range(12)}
    assert len(TemplateLibrary(data_dir).user_templates()) == 48
    assert [p.name for p in data_dir.iterdir() if p.name.endswith(".tmp")] == []


def test_concurrent_edits_of_one_template_keep_every_version(tmp_path):
    data_dir = tmp_path / "data"
    template = TemplateLibrary(data_dir).create(name="Shared", body=BODY)
    run_workers(data_dir, workers=2, count=10, mode=template.id)
    versions = TemplateLibrary(data_dir).versions(template.id)
    assert [v.version for v in versions] == list(range(1, 22))
    assert len({v.description for v in versions}) == 21


def test_concurrent_creates_from_threads_with_separate_instances(tmp_path):
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        library = TemplateLibrary(tmp_path)
        try:
            for i in range(8):
                library.create(name=f"thread {worker} #{i}", body=BODY)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(TemplateLibrary(tmp_path).user_templates()) == 32
