"""The loaded frame is cached until a file changes, and callers cannot spoil the cache."""

from __future__ import annotations

import time

from kling.history import HistoryLog

from .support import request


def test_load_is_cached_until_a_file_changes(log, monkeypatch):
    log.record_pending(request("one"))
    first = log.load()
    parses = []
    import kling.history.frame as frame_module

    real = frame_module.read_csv
    def counting(data, path, *args, **kwargs):
        if path == log.path:
            parses.append(1)
        return real(data, path, *args, **kwargs)

    monkeypatch.setattr(frame_module, "read_csv", counting)
    again = log.load()
    assert parses == [] and again.equals(first)

    again["prompt"] = "changed by a caller"  # callers cannot spoil the cache
    assert log.load()["prompt"].tolist() == ["one"]

    HistoryLog(log.data_dir).record_pending(request("two"))  # another writer
    assert sorted(log.load()["prompt"]) == ["one", "two"]
    assert parses == [1]

    log.annotate(log.load()["id"][0], favourite=True)  # annotations only: no re-parse
    assert log.load()["favourite"].sum() == 1
    assert parses == [1]


def test_repeated_load_is_fast(log):
    log.record_pending(request())
    log.load()
    start = time.perf_counter()
    for _ in range(20):
        log.load()
    assert (time.perf_counter() - start) / 20 < 0.01
