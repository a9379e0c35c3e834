"""Fixtures for tests on a real rclpy graph: a probe node in the test process, node processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from graph_probe import GraphProbe

from visuomotor_ros.launcher import NodeProcess


@pytest.fixture
def probe(request: pytest.FixtureRequest) -> Iterator[GraphProbe]:
    p = GraphProbe(f"probe_{request.node.name.split('[')[0][:40]}")
    yield p
    p.close()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Start node processes; each is stopped (SIGINT) after the test, its log kept in tmp_path."""
    procs: list[NodeProcess] = []

    def start(name: str, params: dict[str, Any] | None = None, **kwargs: Any) -> NodeProcess:
        proc = NodeProcess(name, params=params, log_path=tmp_path / f"{name}-{len(procs)}.log", **kwargs)
        procs.append(proc)
        return proc

    yield start
    for proc in reversed(procs):
        proc.stop()
