"""Start and stop node processes without ``ros2 launch`` (no launch wheel exists for pip installs).

Machines with ROS 2 use ``launch/*.launch.py``; this module serves the demo, benchmarks and tests, with
the same executables and params files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ament_index_python.packages import PackageNotFoundError, get_package_prefix

from visuomotor.errors import ConfigError

__all__ = ["NodeProcess", "executable_path", "ros_args"]


def executable_path(name: str, package: str = "visuomotor_ros") -> Path:
    """Path of a node executable installed by colcon (what ``ros2 run package name`` would start)."""
    try:
        prefix = Path(get_package_prefix(package))
    except PackageNotFoundError as err:
        raise ConfigError(
            f"package {package!r} is not built: run scripts/setup.sh, then source scripts/env.sh"
        ) from err
    path = prefix / "lib" / package / name
    if not path.exists():
        raise ConfigError(
            f"no executable {name!r} in {prefix / 'lib' / package}: rebuild with scripts/setup.sh"
        )
    return path


def _param_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_param_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return f"'{value}'" if value == "" or value.strip() != value else value
    return repr(value)


def ros_args(
    params: Mapping[str, Any] | None = None,
    params_files: Sequence[str | Path] = (),
    remaps: Mapping[str, str] | None = None,
) -> list[str]:
    """``--ros-args`` for a node: params files first, then single parameters (which override them)."""
    args = ["--ros-args"]
    for f in params_files:
        args += ["--params-file", str(f)]
    for key, value in (params or {}).items():
        args += ["-p", f"{key}:={_param_literal(value)}"]
    for src, dst in (remaps or {}).items():
        args += ["-r", f"{src}:={dst}"]
    return args


class NodeProcess:
    """One node in its own process; stopped with SIGINT like ``ros2 launch`` does, then SIGKILL.

    With ``respawn=True`` a watcher thread restarts the same command line ``respawn_delay_s`` after the
    process exits for any reason other than :meth:`stop` (what launch_ros' ``Node(respawn=True,
    respawn_delay=...)`` does): a crash, a kill -9, an OOM kill. ``restarts`` counts the respawns,
    ``respawned_at`` holds their ``time.monotonic()`` and ``exits`` the exit codes of the processes that
    died (negative: the signal). One log file collects every incarnation, each respawn marked in it.
    """

    def __init__(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        params_files: Sequence[str | Path] = (),
        remaps: Mapping[str, str] | None = None,
        log_path: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        program: Sequence[str] | None = None,
        *,
        respawn: bool = False,
        respawn_delay_s: float = 1.0,
        max_respawns: int | None = None,
    ) -> None:
        """``program``: the command that starts the node (e.g. ``[python, script.py]``) instead of the
        installed executable ``name``; the ``--ros-args`` follow it either way. ``max_respawns``: give up
        after this many respawns (None: never, like launch)."""
        if not (respawn_delay_s >= 0.0 and respawn_delay_s < 3600.0):
            raise ConfigError(f"respawn_delay_s must be in [0, 3600) s, got {respawn_delay_s!r}")
        self.name = name
        start = list(program) if program is not None else [str(executable_path(name))]
        self.cmd = [*start, *ros_args(params, params_files, remaps)]
        # The environment is fixed now: a respawn must join the same graph (domain, discovery, profile)
        # even if the caller changes os.environ meanwhile.
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self._log: IO[bytes] | None = None
        self.log_path = Path(log_path) if log_path else None
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("wb")
        self.respawn = respawn
        self.respawn_delay_s = float(respawn_delay_s)
        self.max_respawns = max_respawns
        self.restarts = 0
        self.respawned_at: list[float] = []
        self.exits: list[int] = []
        self._stopping = False
        self._changed = threading.Condition()
        self.proc = self._spawn()
        self._watcher: threading.Thread | None = None
        if respawn:
            self._watcher = threading.Thread(target=self._watch, name=f"respawn-{name}", daemon=True)
            self._watcher.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.cmd, stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT, env=self._env
        )

    def _watch(self) -> None:
        while True:
            with self._changed:
                proc = self.proc
            rc = proc.wait()
            with self._changed:
                if self._stopping:
                    return
                self.exits.append(rc)
                self._changed.notify_all()
                if self.max_respawns is not None and self.restarts >= self.max_respawns:
                    return
                # Like launch: wait the delay (a node that fails at start must not spin the CPU), unless
                # stop() comes meanwhile.
                if self._changed.wait_for(lambda: self._stopping, self.respawn_delay_s):
                    return
                if self._log:
                    self._log.write(f"\n--- respawn {self.restarts + 1}: the process exited with {rc} ---\n"
                                    .encode())
                    self._log.flush()
                self.proc = self._spawn()
                self.restarts += 1
                self.respawned_at.append(time.monotonic())
                self._changed.notify_all()

    @property
    def pid(self) -> int:
        """The pid of the current incarnation."""
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_respawned(self, count: int, timeout_s: float) -> bool:
        """Wait until ``restarts`` ≥ ``count``; False on timeout (or when respawn is off)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.restarts >= count, timeout_s)

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGINT, wait up to ``timeout_s``, then SIGKILL; never respawned after. Returns the exit code."""
        with self._changed:
            self._stopping = True  # under the lock: the watcher spawns nothing after this
            self._changed.notify_all()
            proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._watcher is not None:
            self._watcher.join(5.0)
        if self._log:
            self._log.close()
            self._log = None
        return proc.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
