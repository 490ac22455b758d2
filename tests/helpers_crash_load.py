"""Writer process for tests/test_crash_load.py: history log and template library at once.

    python tests/helpers_crash_load.py DATA_DIR GO_FILE NAME THREADS COUNT SHARED_ID

Prints `ready`, waits until GO_FILE exists (so that every writer starts together), then
runs THREADS threads; each does COUNT rounds of: log a generation (pending, then success
or failure), create its own template, add a version to the shared template SHARED_ID.
After every call that *returned*, one line is printed and flushed, so a test that kills
this process knows exactly what must have survived:

    P <gen id>             pending row written
    S <gen id> | F <gen id> outcome row written (succeeded / failed)
    T <template id> <name> template created
    U <version> <text>     shared template saved as this version with description <text>
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from kling.errors import GenerationFailedError
from kling.history import HistoryLog
from kling.models import GenerationRequest, GenerationResult
from kling.templates import TemplateLibrary

BODY = "Waves crashing on the shore, drone shot, slow motion"


def prompt_for(name: str, thread: int, i: int) -> str:
    """A prompt with every CSV hazard; the test rebuilds it to check it survived."""
    return f'{name} t{thread} #{i}: "quoted", commas, a line break\nand ünïcode ✓'


def result_for(seed: int) -> GenerationResult:
    return GenerationResult.parse({
        "videos": [{"url": f"https://blob.example.com/{seed}.mp4", "duration": 5,
                    "width": 1920, "height": 1088, "content_type": "video/mp4"}],
        "seed": seed, "timings": {"inference": 12.5}})


def main() -> None:
    data_dir, go, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    threads, count, shared_id = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    history = HistoryLog(data_dir)
    library = TemplateLibrary(data_dir, lock_timeout=60)
    out_lock = threading.Lock()

    def report(line: str) -> None:
        with out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def work(thread: int) -> None:
        for i in range(count):
            seed = thread * 100_000 + i
            gen_id = history.record_pending(
                GenerationRequest.create(prompt_for(name, thread, i), "5", "16:9", seed),
                source=name)
            report(f"P {gen_id}")
            if i % 3 == 2:
                history.record_failure(gen_id, GenerationFailedError(status=500), elapsed_s=1)
                report(f"F {gen_id}")
            else:
                history.record_success(gen_id, result_for(seed), elapsed_s=1)
                report(f"S {gen_id}")
            template = library.create(name=f"{name} t{thread} #{i}", body=BODY,
                                      tags=[name])
            report(f"T {template.id} {template.name}")
            text = f"{name} t{thread} edit {i}"
            saved = library.update(shared_id, description=text)
            report(f"U {saved.version} {text}")

    report("ready")
    while not go.exists():
        time.sleep(0.005)
    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    report("done")


if __name__ == "__main__":
    main()
