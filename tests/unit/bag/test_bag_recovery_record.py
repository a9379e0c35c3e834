"""How ``visuomotor record`` stops its node process, without a ROS graph: a stand-in node (a Python process
that reports the signal it got) under ``run_node_process``, both real processes, real signals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# The stand-in node: "polite" records the stop signal and exits 0 (as the recorder closes its bag),
# "stubborn" ignores it.
_NODE = """
import pathlib, signal, sys, time
mode, out = sys.argv[1], pathlib.Path(sys.argv[2])
def stop(sig, _frame):
    out.write_text(signal.Signals(sig).name)
    sys.exit(0)
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, stop if mode == "polite" else signal.SIG_IGN)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""
# `visuomotor record`'s process: run_node_process around the stand-in.
_CLI = """
import sys
from visuomotor.cli.record import run_node_process
node = [sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]]
sys.exit(run_node_process(node, stop_timeout_s=float(sys.argv[4]), name="stand-in", on_timeout="repair it"))
"""


def _start(tmp_path: Path, mode: str, stop_timeout_s: float = 10.0) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CLI, _NODE, mode, str(tmp_path / "signal"), str(stop_timeout_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def _node_pid(cli: int) -> int:
    (pid,) = (int(p) for p in Path(f"/proc/{cli}/task/{cli}/children").read_text().split())
    return pid


def _gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_stop_signal_is_passed_on_once_and_waited_for(tmp_path: Path, sig: signal.Signals) -> None:
    cli = _start(tmp_path, "polite")
    node = _node_pid(cli.pid)
    cli.send_signal(sig)
    cli.send_signal(sig)  # a second one (an impatient Ctrl-C) is not passed on
    out, _ = cli.communicate(timeout=30)
    assert cli.returncode == 0, out
    assert f"{sig.name}: stopping the stand-in (pid {node}) with {sig.name}" in out
    assert (tmp_path / "signal").read_text() == sig.name
    assert _gone(node)


def test_a_node_that_does_not_stop_is_killed_after_the_timeout(tmp_path: Path) -> None:
    cli = _start(tmp_path, "stubborn", stop_timeout_s=1.0)
    node = _node_pid(cli.pid)
    started = time.monotonic()
    cli.send_signal(signal.SIGTERM)
    out, _ = cli.communicate(timeout=30)
    assert cli.returncode == 1
    assert 1.0 <= time.monotonic() - started < 10
    assert f"the stand-in (pid {node}) did not finish within 1 s of being asked to stop: killed it " in out
    assert "repair it" in out
    assert _gone(node)


def test_the_node_stops_when_the_command_is_killed_outright(tmp_path: Path) -> None:
    cli = _start(tmp_path, "polite")
    node = _node_pid(cli.pid)
    cli.kill()  # SIGKILL: nothing is passed on by the command itself
    cli.communicate(timeout=30)
    assert _gone(node), "the node was orphaned"
    assert (tmp_path / "signal").read_text() == "SIGTERM"  # Linux parent-death signal
