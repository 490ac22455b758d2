"""Who is writing: an identity of this process that a later reader can check.

`process_owner()` is `host:pid:<boot id>-<process start ticks>` (from `/proc`). The pid
alone is not enough: pids are reused, and after a reboot they start again, so the start
time since boot and the boot id come with it. `owner_alive` tells from such a token
whether that process still runs: True or False for a process on this host, None when it
cannot be known (another host, or a token of another shape). Without `/proc` the token
holds the start time instead and only the pid's existence can be checked.
"""

from __future__ import annotations

import os
import socket
import time
from functools import lru_cache

_HAS_PROC = os.path.exists("/proc/self/stat")
_identity: tuple[int, str] | None = None


@lru_cache(maxsize=1)
def _hostname() -> str:
    return socket.gethostname() or "localhost"


@lru_cache(maxsize=1)
def _boot_id() -> str:
    # Part of the start token: after a reboot pids and start ticks repeat.
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()[:8]
    except OSError:
        return "0"


def _start_token(pid: int) -> str | None:
    """`<boot id>-<start ticks>` of a live process on this machine; None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            line = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after it do not.
    rest = line[line.rfind(b")") + 2:].split()
    if len(rest) < 20 or rest[0] in (b"Z", b"X"):
        return None
    return f"{_boot_id()}-{int(rest[19])}"


def process_owner() -> str:
    """Who is writing: `host:pid:token`, enough to tell later whether that process died."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:  # recomputed in a forked child
        token = _start_token(pid) if _HAS_PROC else None
        _identity = (pid, f"{_hostname()}:{pid}:{token or 't%d' % time.time()}")
    return _identity[1]


def owner_alive(owner: str) -> bool | None:
    """True/False when `owner` is a process on this host that is alive/gone; None if unknown."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != _hostname() or not parts[1].isdigit():
        return None
    if owner == process_owner():
        return True
    pid = int(parts[1])
    if _HAS_PROC:
        return _start_token(pid) == parts[2]
    try:  # without /proc only existence can be checked
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
