"""Fault injection on the real graph: one module-scoped graph (sim, commander, latency monitor,
scripted_pick in their processes + the probe), shared by the tests in order."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ros"))

from chaos import ChaosGraph
from graph_probe import GraphProbe

from visuomotor_ros.launcher import NodeProcess


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosGraph]:
    logs = tmp_path_factory.mktemp("faults")
    procs: list[NodeProcess] = []

    def launch(name: str, params: dict[str, Any] | None = None, **kwargs: Any) -> NodeProcess:
        proc = NodeProcess(name, params=params, log_path=logs / f"{name}-{len(procs)}.log", **kwargs)
        procs.append(proc)
        return proc

    probe = GraphProbe("faults_probe")
    g = ChaosGraph(probe, launch)
    try:
        g.wait_ready()
        g.streaming(True)
        yield g
    finally:
        g.close()
        for proc in reversed(procs):
            proc.stop()
        probe.close()
