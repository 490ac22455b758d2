"""The loaded frame is cached until a file changes, and callers cannot spoil the cache."""

from __future__ import annotations

from kling.history import HistoryLog
from kling.history.logfile import LogFile

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


def test_a_repeated_load_reads_no_file(log, monkeypatch):
    log.record_pending(request())
    log.annotate(log.load()["id"][0], rating=4)
    first = log.load()
    reads = []
    for name in ("read_complete", "read_appended"):
        monkeypatch.setattr(LogFile, name, lambda self, *args, name=name: reads.append(name))
    for _ in range(20):
        assert log.load().equals(first)  # from the cache: one stat per file
    assert reads == []
