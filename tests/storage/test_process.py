"""Process identity: a later reader tells a live writer from a dead one, or cannot know."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kling.storage.process import owner_alive, process_owner

ROOT = Path(__file__).resolve().parents[2]


def test_this_process_is_alive_and_its_token_names_its_host_and_pid():
    owner = process_owner()
    host, pid, token = owner.rsplit(":", 2)
    assert int(pid) > 0 and host and token
    assert owner_alive(owner) is True


def test_a_process_that_exited_is_gone_and_a_reused_pid_is_another_process():
    child = subprocess.run([sys.executable, "-c",
                            "from kling.storage.process import process_owner; "
                            "print(process_owner())"],
                           cwd=ROOT, capture_output=True, text=True, check=True)
    assert owner_alive(child.stdout.strip()) is False
    host, pid, _ = process_owner().rsplit(":", 2)
    assert owner_alive(f"{host}:{pid}:not-this-process") is False


def test_other_hosts_and_other_shapes_cannot_be_known():
    assert owner_alive("elsewhere:123:abc") is None
    assert owner_alive("cli") is None
