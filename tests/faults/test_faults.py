"""Fault injection on the real graph (issue 10): nodes never die from input, the arm always holds safely.

One graph for the module (``conftest.graph``): sim, commander, latency monitor and scripted_pick in their
own processes, a probe streaming action chunks. Every subscribed topic is fuzzed with hypothesis-generated
messages (wrong lengths, NaN/inf, huge arrays, empty, wrong encodings, past/future stamps); then a camera
stall and resume, an e-stop from a volatile publisher, and kill -9 of the commander with a restart. The
last test re-checks every command any node published during all of it, independently of the guard.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from chaos import FUZZ_TARGETS, ChaosGraph, Fuzzer
from graph_probe import wait_until
from hypothesis import HealthCheck, given, settings

from visuomotor.control import SafetyConfig, StateMonitor
from visuomotor.sim import SimWorld

pytestmark = [pytest.mark.ros, pytest.mark.slow]

EXAMPLES = 40  # per topic (derandomized: the same messages every run); bench/faults.py runs more


@pytest.fixture(scope="module")
def fuzzer(graph: ChaosGraph) -> Fuzzer:
    return Fuzzer(graph)


def _recovers(graph: ChaosGraph, what: str, timeout_s: float = 15.0) -> None:
    graph.mark(f"recovery after {what}")
    graph.home()
    t = time.monotonic()
    wait_until(lambda: graph.accepted_since(t) >= 2, timeout_s, f"accepted chunks again after {what}")


def test_the_graph_commands_the_arm(graph: ChaosGraph) -> None:
    _recovers(graph, "start-up", 30.0)


@pytest.mark.parametrize("target", sorted(FUZZ_TARGETS))
def test_fuzzed_topic_kills_no_node(graph: ChaosGraph, fuzzer: Fuzzer, target: str) -> None:
    strategy = FUZZ_TARGETS[target][3]
    graph.mark(f"fuzz {target}")

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def fuzz(drawn: object) -> None:
        fuzzer.send(target, drawn)
        time.sleep(0.003)

    fuzz()
    alive = graph.alive()
    assert all(alive.values()), (alive, {n: graph.output(n)[-3000:] for n, ok in alive.items() if not ok})
    if target == "commander/estop":
        graph.reset_estop()
    _recovers(graph, target)


def test_camera_stall_holds_and_resume_recovers(graph: ChaosGraph) -> None:
    graph.mark("camera stall")
    t = time.monotonic()
    graph.freeze_camera(True)
    wait_until(lambda: "stale_perception" in graph.rejections_since(t), 5, "the stale-perception HOLD")
    t_hold = time.monotonic()
    wait_until(lambda: time.monotonic() - t_hold > 0.3, 1, "0.3 s of stall")
    assert graph.accepted_since(t_hold) == 0
    graph.freeze_camera(False)
    _recovers(graph, "the camera stall")


def test_estop_from_a_volatile_publisher_holds_at_once_until_reset(graph: ChaosGraph) -> None:
    graph.mark("e-stop")
    latency_ms = graph.estop_hold_latency_ms()
    assert latency_ms < 500.0, latency_ms
    wait_until(lambda: graph.estop_state[-1:] == [True], 5, "the latched e-stop state")
    t = time.monotonic()
    wait_until(lambda: time.monotonic() - t > 0.5, 1, "0.5 s under e-stop")
    assert graph.accepted_since(t) == 0
    graph.reset_estop()
    wait_until(lambda: graph.estop_state[-1:] == [False], 5, "the released state")
    _recovers(graph, "the e-stop reset")


def test_kill9_of_the_commander_others_hold_and_a_restart_recovers(graph: ChaosGraph) -> None:
    monitor = StateMonitor(SafetyConfig(), T_flange_tcp=SimWorld.T_FLANGE_TCP)
    graph.mark("kill -9 commander")
    graph.kill9("commander")
    graph.faults += 1
    t = time.monotonic()
    still_since = None
    while time.monotonic() - t < 8.0:  # the JTC finishes the last checked trajectory and holds there
        with graph.lock:
            q, qd = graph.q.copy(), graph.qd.copy()
        monitor.check(q, qd)
        if float(np.abs(qd).max()) < 0.01:
            still_since = still_since or time.monotonic()
            if time.monotonic() - still_since > 0.5:
                break
        else:
            still_since = None
        time.sleep(0.01)
    alive = graph.alive()
    assert not alive["commander"] and alive["sim"] and alive["latency_monitor"] and alive["scripted_pick"]
    assert not monitor.violations, monitor.violations[:3]
    assert still_since is not None and time.monotonic() - still_since > 0.5, "the arm did not come to rest"
    graph.restart("commander")
    _recovers(graph, "the commander's restart", 40.0)


def test_every_command_published_during_the_faults_was_inside_the_limits(graph: ChaosGraph) -> None:
    result, _ = graph.check_commands(0)
    assert result.checked > 50
    assert not result.outside, "\n".join(result.outside[:8])


def test_the_recheck_catches_what_the_probes_found() -> None:
    """The independent check is not a rubber stamp: the old commander's plan from 'rest' with the arm at
    0.9 rad/s (25 rad/s² against 6), a jump to a remembered target, NaN, and a path through the table."""
    from chaos import check_command
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from visuomotor.kinematics import UR10E_JOINT_NAMES
    from visuomotor_ros.convert import ns_to_duration

    q0 = np.array([-0.4, -2.2, 2.1, -1.47, -1.5708, 0.0])

    def traj(points: list[tuple[float, np.ndarray, np.ndarray]]) -> JointTrajectory:
        msg = JointTrajectory(joint_names=list(UR10E_JOINT_NAMES))
        msg.points = [
            JointTrajectoryPoint(
                positions=list(map(float, q)),
                velocities=list(map(float, v)),
                time_from_start=ns_to_duration(round(t * 1e9)),
            )
            for t, q, v in points
        ]
        return msg

    zero = np.zeros(6)
    moving = np.array([0.9, 0, 0, 0, 0, 0])
    planned_from_rest = traj([(0.2, q0 + np.array([0.02, 0, 0, 0, 0, 0]), zero)])
    assert check_command(planned_from_rest, q0, zero) is None
    assert "joint acceleration" in check_command(planned_from_rest, q0, moving)
    too_fast = traj([(0.2, q0 + np.array([0.45, 0, 0, 0, 0, 0]), zero)])
    assert "joint velocity" in check_command(too_fast, q0, zero)
    assert "NaN" in check_command(traj([(0.2, q0 + np.nan, zero)]), q0, zero)
    down = q0 + np.array([0.0, 0.9, 0.6, 0, 0, 0])  # shoulder and elbow down: the tool into the table
    assert "collision" in check_command(traj([(20.0, down, zero)]), q0, zero)
    assert check_command(JointTrajectory(joint_names=list(UR10E_JOINT_NAMES)), q0, zero) is None  # a STOP
