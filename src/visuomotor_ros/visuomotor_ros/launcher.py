"""Start and stop node processes without ``ros2 launch`` (no launch wheel exists for pip installs).

Machines with ROS 2 use ``launch/*.launch.py``; this module serves the demo, benchmarks and tests, with
the same executables and params files.
"""

from __future__ import annotations

import os
import signal
import subprocess
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
    """One node in its own process; stopped with SIGINT like ``ros2 launch`` does, then SIGKILL."""

    def __init__(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        params_files: Sequence[str | Path] = (),
        remaps: Mapping[str, str] | None = None,
        log_path: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        program: Sequence[str] | None = None,
    ) -> None:
        """``program``: the command that starts the node (e.g. ``[python, script.py]``) instead of the
        installed executable ``name``; the ``--ros-args`` follow it either way."""
        self.name = name
        start = list(program) if program is not None else [str(executable_path(name))]
        self.cmd = [*start, *ros_args(params, params_files, remaps)]
        self._log: IO[bytes] | None = None
        self.log_path = Path(log_path) if log_path else None
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGINT, wait up to ``timeout_s``, then SIGKILL. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
