"""Fault injection on the real graph (issue 10): nodes never die from input, the arm always holds safely.

One graph for the module (``conftest.graph``): sim, commander, latency monitor and scripted_pick in their
own processes (the last three respawned like the launch files do), a probe streaming action chunks. Every
subscribed topic is fuzzed with hypothesis-generated messages (wrong lengths, NaN/inf, huge arrays, empty,
wrong encodings, past/future stamps); then a camera stall and resume, an e-stop from a volatile publisher,
the sim's clock jumping back (a reset), and kill -9 of each node of the stack, respawned. The last test
re-checks every command any node published during all of it, independently of the guard.
(Network delay and loss: test_network.py; clock jumps both ways on a clock of the probe's: test_clock.py.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
from chaos import FUZZ_TARGETS, ChaosGraph, Fuzzer
from graph_probe import wait_until
from hypothesis import HealthCheck, given, settings

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


# Early in the module, where the sim has run longest. Regression: sim_node restarted its publishing schedule
# only when sim time fell below the time its loop STARTED at, i.e. never after a reset (the world rewinds to
# 0 s): the sim went silent and stepped unpaced until it was back at the old time, as long as the episode.
def test_the_sim_clock_jumping_back_holds_and_recovers(graph: ChaosGraph) -> None:
    """The sim's reset rewinds /clock to 0 while chunks computed from frames before it are still coming
    (perception in flight): every one of them is refused, the commander holds, and then recovers."""
    graph.mark("clock jump back (sim reset)")
    # Let sim time pass 1.5 s first (early in a fast run it may not have), so going back is unambiguous.
    wait_until(lambda: (graph.clock_now_ns() or 0) > 1.5e9, 30, "sim time past 1.5 s")
    old = graph.clock_now_ns()
    assert old is not None
    with graph.lock:
        graph.frozen_stamp_ns = graph.truth_ns  # the in-flight frames: stamped before the reset
    try:
        t = time.monotonic()
        graph.rewind_clock()
        # /clock comes again either way: from 0 (a rewind) or, with the bug, after the silent catch-up.
        wait_until(lambda: graph.clock_seen > t + 0.05, 60, "/clock after the reset")
        silent_s = graph.clock_seen - t
        went_back = (graph.clock_now_ns() or old) < old
        print(f"\nsim reset at sim time {old * 1e-9:.1f} s: /clock again after {silent_s:.2f} s, "
              f"{'rewound' if went_back else 'NOT rewound'} ({(graph.clock_now_ns() or 0) * 1e-9:.2f} s)")
        assert went_back, f"/clock did not go back (silent for {silent_s:.2f} s)"
        wait_until(lambda: {"stale_perception", "stale_joint_states"} & set(graph.rejections_since(t)), 2,
                   "a HOLD on the stamps of before the jump")
        t_held = time.monotonic()
        wait_until(lambda: time.monotonic() - t_held > 0.5, 1, "0.5 s of chunks on the old clock")
        assert graph.accepted_since(t_held) == 0
    finally:
        with graph.lock:
            graph.frozen_stamp_ns = None
        _recovers(graph, "the clock jump back", 60.0)
    assert not any(graph.restarts().values()) and all(graph.alive().values())


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

    before = graph.restarts()
    fuzz()
    alive, after = graph.alive(), graph.restarts()
    # A node that died was respawned by now, perhaps: the restart counters tell.
    died = [n for n in alive if not alive[n] or after[n] != before[n]]
    assert not died, {n: graph.output(n)[-3000:] for n in died}
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


# The arm's controller keeps the last checked trajectory when the commander dies; the latency monitor and
# the scripted pick are off the command path: the loop must not notice them going.
@pytest.mark.parametrize("name", ["latency_monitor", "scripted_pick", "commander"])
def test_kill9_each_node_the_launch_respawns_it_and_the_loop_recovers(
    graph: ChaosGraph, name: str, record_property: Callable[[str, object], None]
) -> None:
    graph.mark(f"kill -9 {name}")
    before = graph.restarts()
    recovery = graph.kill9_and_recover(name)
    record_property("recovery", recovery.__dict__)
    print(f"\n{name}: respawned {recovery.respawned_after_s:.2f} s after kill -9; working again "
          f"{recovery.working_after_respawn_s:.2f} s, an accepted command "
          f"{recovery.accepted_after_respawn_s:.2f} s after the respawn")
    assert not recovery.violations, recovery.violations[:3]
    after = graph.restarts()
    assert after[name] == before[name] + 1
    assert all(after[n] == before[n] for n in after if n != name), (before, after)
    assert all(graph.alive().values())
    _recovers(graph, f"the respawn of {name}")


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
