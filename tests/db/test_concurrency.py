"""Four processes queueing and annotating in one team database at once: nothing lost,
nothing doubled. Each queues its generations (pending row and job together) and rates,
tags and reviews every generation queued so far, its own and the others'."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd

from kling import db
from kling.db.history import DatabaseHistory
from tests.history.support import ROOT

PROCESSES, EACH = 4, 25

CHILD = """
import sys
from kling import db
from kling.db.history import DatabaseHistory
from kling.db.queue import DatabaseQueue
from kling.models import GenerationRequest

url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = db.connect(url)
history = DatabaseHistory(engine)
queue = DatabaseQueue(engine, history)
for n in range(count):
    job = queue.submit(GenerationRequest.create(f"{name} take {n}, drone shot", "5", "16:9", n),
                       owner=name, created_by=f"{name}@acme.com")
    everyone = list(history.query()["id"])
    history.annotate(everyone, by=f"{name}@acme.com", tags=f"seen-by-{name}")
    history.annotate(job.id, by=f"{name}@acme.com", rating=1 + n % 5)
print("done", flush=True)
"""


def test_four_processes_queue_and_annotate_at_once(upgraded):
    children = [subprocess.Popen([sys.executable, "-c", CHILD, upgraded, f"p{i}", str(EACH)],
                                 cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for i in range(PROCESSES)]
    for child in children:
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0 and out.strip() == "done", err
    engine = db.connect(upgraded)
    generations = pd.read_sql("select * from generations", engine)
    jobs = pd.read_sql("select * from jobs", engine)
    notes = pd.read_sql("select * from annotations", engine)
    history = DatabaseHistory(engine)
    frame = history.load()
    engine.dispose()
    assert len(generations) == generations["id"].nunique() == PROCESSES * EACH
    assert sorted(jobs["id"]) == sorted(generations["id"])
    assert set(jobs["state"]) == {"queued"}
    for i in range(PROCESSES):
        mine = generations[generations["created_by"] == f"p{i}@acme.com"]
        assert sorted(mine["seed"]) == list(range(EACH))
    ratings = notes[notes["field"] == "rating"]
    assert len(ratings) == ratings["gen_id"].nunique() == PROCESSES * EACH
    assert frame["rating"].notna().all()  # every rating reached annotation_latest
    # The last tag written for each generation is the one every reader sees.
    tags = notes[notes["field"] == "tags"].sort_values("seq").groupby("gen_id").last()
    assert (frame.set_index("id")["tags"] == tags["value"].reindex(frame["id"]).values).all()
