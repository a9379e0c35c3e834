"""NodeProcess respawn (what launch_ros' ``Node(respawn=True, respawn_delay=...)`` does), on a stand-in
program: a kill -9 or a crash is restarted with the same command line after the delay; stop() never is."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from visuomotor.errors import ConfigError
from visuomotor_ros.launcher import NodeProcess

# A "node" that runs until told otherwise; it prints its pid so the log shows every incarnation.
SLEEPER = [sys.executable, "-c", "import os, time; print('up', os.getpid(), flush=True); time.sleep(600)"]
CRASHER = [sys.executable, "-c", "raise SystemExit(3)"]


def _wait_up(proc: NodeProcess, timeout_s: float = 10.0) -> None:
    """Until the current incarnation has printed its pid (it is running, not still starting)."""
    deadline = time.monotonic() + timeout_s
    while f"up {proc.pid}" not in proc.output():
        assert time.monotonic() < deadline, proc.output()
        time.sleep(0.01)


def test_a_killed_process_is_respawned_with_the_same_command_line(tmp_path: Path) -> None:
    proc = NodeProcess("sleeper", {"a": 1}, log_path=tmp_path / "s.log", program=SLEEPER, respawn=True,
                       respawn_delay_s=0.2)
    try:
        first, cmd = proc.pid, list(proc.cmd)
        _wait_up(proc)
        t_kill = time.monotonic()
        os.kill(first, signal.SIGKILL)
        assert proc.wait_respawned(1, 10.0)
        assert proc.respawned_at[0] - t_kill >= 0.2  # the delay is kept
        assert proc.pid != first and proc.alive() and proc.cmd == cmd
        assert proc.exits == [-signal.SIGKILL] and proc.restarts == 1
        _wait_up(proc)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait_respawned(2, 10.0)
        _wait_up(proc)
    finally:
        last = proc.pid
        proc.stop(timeout_s=5.0)
    assert not proc.wait_respawned(3, 0.5)  # longer than the delay: no respawn after stop()
    assert proc.restarts == 2 and proc.pid == last and not proc.alive()
    log = proc.output()
    assert log.count("up ") == 3 and "--- respawn 2: the process exited with -9 ---" in log


def test_stop_never_respawns_and_no_respawn_is_the_default(tmp_path: Path) -> None:
    plain = NodeProcess("plain", program=SLEEPER)
    os.kill(plain.pid, signal.SIGKILL)
    assert not plain.wait_respawned(1, 0.5) and plain.restarts == 0
    plain.stop()
    respawning = NodeProcess("r", program=SLEEPER, respawn=True, respawn_delay_s=0.0)
    respawning.stop(timeout_s=5.0)
    assert not respawning.wait_respawned(1, 0.5) and respawning.restarts == 0


def test_a_crashing_node_is_retried_up_to_max_respawns() -> None:
    proc = NodeProcess("crasher", program=CRASHER, respawn=True, respawn_delay_s=0.05, max_respawns=2)
    try:
        assert proc.wait_respawned(2, 10.0)
        deadline = time.monotonic() + 10.0
        while len(proc.exits) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.exits == [3, 3, 3] and proc.restarts == 2 and not proc.alive()
    finally:
        proc.stop()


def test_a_bad_respawn_delay_is_refused() -> None:
    with pytest.raises(ConfigError, match="respawn_delay_s"):
        NodeProcess("x", program=SLEEPER, respawn=True, respawn_delay_s=-1.0)
