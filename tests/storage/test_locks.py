"""The thread lock and file lock pair: waits are bounded and say who held the lock."""

from __future__ import annotations

import filelock
import pytest

from kling.storage.locks import LockPair, LockTimeout


def test_a_lock_held_by_another_process_times_out_as_such(tmp_path):
    other = filelock.FileLock(str(tmp_path / "x.lock"))  # as another process holds it
    pair = LockPair(tmp_path / "x.lock", timeout=0.01)
    with other:
        with pytest.raises(LockTimeout) as info:
            with pair.hold():
                raise AssertionError("never reached")
        assert info.value.by_process
        with pair.try_hold() as held:
            assert not held
    with pair.try_hold() as held:
        assert held


def test_a_lock_held_by_another_thread_times_out_as_such(tmp_path):
    pair = LockPair(tmp_path / "x.lock", timeout=0.01)
    with pair.hold():
        with pytest.raises(LockTimeout) as info:
            with pair.hold():  # the thread lock is not reentrant, as another thread finds it
                raise AssertionError("never reached")
        assert not info.value.by_process
        with pair.try_hold() as held:
            assert not held
    with pair.hold():
        pass  # released after each use
