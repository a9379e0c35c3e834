"""Fault injection on the real graph: one module-scoped graph (sim, commander, latency monitor,
scripted_pick in their processes + the probe), shared by the tests in order. Every module runs in a DDS
domain of its own (``ros_domain``): one module's graph never sees another's, even one torn down late."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ros"))

from chaos import ChaosGraph, node_processes
from graph_probe import GraphProbe

_MODULES = itertools.count(1)


@pytest.fixture(scope="module", autouse=True)
def ros_domain() -> Iterator[int]:
    """ROS_DOMAIN_ID for this module's probe and processes (read at their start), restored after it.

    Domains 101–200, away from the session's 1–100 (tests/conftest.py), spread by the session's domain so
    that two sessions on one machine pick different ones.
    """
    session = int(os.environ.get("ROS_DOMAIN_ID", "0"))
    domain = 101 + (session + 37 * next(_MODULES)) % 100
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    try:
        yield domain
    finally:
        os.environ["ROS_DOMAIN_ID"] = str(session)


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosGraph]:
    probe = GraphProbe("faults_probe")
    try:
        with node_processes(tmp_path_factory.mktemp("faults")) as (launch, _):  # stopped before the probe
            g = ChaosGraph(probe, launch)
            try:
                g.wait_ready()
                g.streaming(True)
                yield g
            finally:
                g.close()
    finally:
        probe.close()
