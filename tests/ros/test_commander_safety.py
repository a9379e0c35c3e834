"""Faults around the commander on a real graph (sim + commander processes): every published command is
inside the limits, the arm holds on NaN, unreachable targets, a camera stall, an e-stop and a joint-state
timeout, and it recovers when the inputs return."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from graph_probe import GraphProbe, wait_until
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, String
from trajectory_msgs.msg import JointTrajectory

from visuomotor.control import SafetyConfig
from visuomotor.kinematics import UR10E_JOINT_NAMES, Ur10eKinematics
from visuomotor.sim import SimWorld
from visuomotor_interfaces.msg import ActionChunk, ActionStep, SimGroundTruth
from visuomotor_ros.commander_node import NODE_DEFAULTS
from visuomotor_ros.convert import duration_to_ns, matrix_to_pose, ns_to_duration, stamp_to_ns
from visuomotor_ros.launcher import NodeProcess
from visuomotor_ros.qos import COMMAND, LATCHED, STATE

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
JTC = "/scaled_joint_trajectory_controller/joint_trajectory"


def test_tool_offset_default_is_the_sim_grippers() -> None:
    assert NODE_DEFAULTS["tool_offset_z_m"] == pytest.approx(SimWorld.T_FLANGE_TCP[2, 3])
    np.testing.assert_allclose(SimWorld.T_FLANGE_TCP[:3, :3], np.eye(3))


class Cell:
    """The probe's view: joints (relayed to the commander, pausable), ground truth, commands, rejections."""

    def __init__(self, probe: GraphProbe) -> None:
        self.lock = threading.Lock()
        self.q: np.ndarray | None = None
        self.truth_ns = -1
        self.commands: list[tuple[np.ndarray, JointTrajectory]] = []  # (joints at receipt, command)
        self.rejections: list[str] = []
        self.relay = True
        node = probe.node
        self.relay_pub = node.create_publisher(JointState, "/relay/joint_states", STATE)
        self.chunk_pub = node.create_publisher(ActionChunk, "/visuomotor/action_chunk", STATE)
        self.estop_pub = node.create_publisher(Bool, "/visuomotor/estop", LATCHED)
        node.create_subscription(JointState, "/joint_states", self._on_joints, STATE)
        node.create_subscription(SimGroundTruth, "/sim/ground_truth", self._on_truth, STATE)
        node.create_subscription(JointTrajectory, JTC, self._on_command, COMMAND)
        node.create_subscription(String, "/visuomotor/rejections", self._on_rejection, STATE)

    def _on_joints(self, msg: JointState) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        with self.lock:
            self.q = np.array([msg.position[index[n]] for n in UR10E_JOINT_NAMES])
            relay = self.relay
        if relay:
            self.relay_pub.publish(msg)

    def _on_truth(self, msg: SimGroundTruth) -> None:
        with self.lock:
            self.truth_ns = stamp_to_ns(msg.header.stamp)

    def _on_command(self, msg: JointTrajectory) -> None:
        with self.lock:
            self.commands.append((None if self.q is None else self.q.copy(), msg))

    def _on_rejection(self, msg: String) -> None:
        with self.lock:
            self.rejections.append(msg.data)

    def send_chunk(self, poses: list[np.ndarray], stamp_ns: int | None = None) -> None:
        msg = ActionChunk()
        with self.lock:
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns or self.truth_ns, 1_000_000_000)
        msg.header.frame_id = "base_link"
        msg.step_period = ns_to_duration(100_000_000)
        msg.target_track_id = -1
        msg.steps = [ActionStep(tcp_pose=matrix_to_pose(T), gripper=0.0) for T in poses]
        self.chunk_pub.publish(msg)

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return len(self.commands), len(self.rejections)


def _check_within_limits(commands: list[tuple[np.ndarray, JointTrajectory]]) -> None:
    """An independent check of every published command against the configured limits."""
    cfg = SafetyConfig()
    lim = cfg.joint_limits_rad()
    vmax = cfg.velocity_limits_rad_s()
    kin = Ur10eKinematics(T_flange_tcp=SimWorld.T_FLANGE_TCP)
    for q_at, msg in commands:
        assert list(msg.joint_names) == list(UR10E_JOINT_NAMES)
        if not msg.points:
            continue  # a STOP: the JTC's own stop (hold where the arm is), sent without trustworthy joints
        q = np.array([p.positions for p in msg.points])
        qd = np.array([p.velocities for p in msg.points])
        t = np.array([duration_to_ns(p.time_from_start) * 1e-9 for p in msg.points])
        assert np.isfinite(q).all() and np.isfinite(qd).all() and np.all(np.diff(t) > 0) and t[0] > 0
        assert np.all(q >= lim[:, 0]) and np.all(q <= lim[:, 1])
        assert np.all(np.abs(qd) <= vmax + 1e-9)
        start = q_at if q_at is not None else q[0]
        steps = np.diff(np.vstack([start, q]), axis=0) / np.diff(np.concatenate([[0.0], t]))[:, None]
        assert np.all(np.abs(steps) <= vmax * 1.05 + 0.02)  # mean speed between points
        for T in kin.forward_batch(q):
            p = T[:3, 3]
            assert np.all(p >= np.array(cfg.workspace_min_m) - 1e-6)
            assert np.all(p <= np.array(cfg.workspace_max_m) + 1e-6)
            assert p[2] >= cfg.min_tcp_height_m - 1e-6


def test_faults_hold_and_recover(probe: GraphProbe, launch: Callable[..., NodeProcess]) -> None:
    launch("sim", {"seed": 2}, params_files=[ROOT / "config" / "sim.yaml"])
    launch("commander", {"use_sim_time": True, "topics.joint_states": "/relay/joint_states"},
           params_files=[ROOT / "config" / "safety.yaml"])
    cell = Cell(probe)
    probe.wait_for_subscribers("/visuomotor/action_chunk")
    wait_until(lambda: cell.q is not None and cell.truth_ns > 0, 30, "joint states and ground truth")
    kin = Ur10eKinematics(T_flange_tcp=SimWorld.T_FLANGE_TCP)
    with cell.lock:
        T0 = kin.forward(cell.q)

    def circle_chunk(phase: float) -> list[np.ndarray]:
        poses = []
        for i in range(10):
            T = T0.copy()
            a = phase + 0.1 * i
            T[:3, 3] += [0.03 * np.cos(a) - 0.03, 0.03 * np.sin(a), 0.0]
            poses.append(T)
        return poses

    phase = [0.0]

    def stream(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            cell.send_chunk(circle_chunk(phase[0]))
            phase[0] += 0.1
            time.sleep(0.1)

    def accepted_since(n: int) -> int:
        with cell.lock:
            return sum(1 for _, m in cell.commands[n:] if len(m.points) > 1)

    def expect(reason: str, fault: Callable[[], None], timeout_s: float = 10.0) -> None:
        _, r0 = cell.counts()
        fault()
        wait_until(lambda: reason in cell.rejections[r0:], timeout_s, f"a {reason} rejection")
        n0, _ = cell.counts()
        stream(1.0)  # inputs back: chunks are accepted again
        assert accepted_since(n0) >= 3, f"no recovery after {reason}"

    stream(1.5)
    assert accepted_since(0) >= 5
    nan_chunk = circle_chunk(0.0)
    nan_chunk[3] = nan_chunk[3].copy()
    nan_chunk[3][0, 3] = float("nan")
    expect("non_finite", lambda: cell.send_chunk(nan_chunk))
    far = [T0.copy() for _ in range(5)]
    for T in far:
        T[:3, 3] = [2.5, 0.0, 0.5]
    expect("ik_unreachable", lambda: cell.send_chunk(far))
    high = [T0.copy() for _ in range(12)]
    for i, T in enumerate(high):
        T[2, 3] += 0.05 * (i + 1)  # a reachable climb that leaves the workspace box (z ≤ 0.9 m)
    expect("workspace", lambda: cell.send_chunk(high))
    expect("stale_perception", lambda: time.sleep(0.6))  # a 500+ ms camera stall: no fresh chunk
    cell.estop_pub.publish(Bool(data=True))
    wait_until(lambda: "estop" in cell.rejections, 10, "an e-stop rejection")
    n0, _ = cell.counts()
    stream(0.5)
    assert accepted_since(n0) == 0  # latched: nothing but holds while the e-stop is on
    cell.estop_pub.publish(Bool(data=False))
    n0, _ = cell.counts()
    stream(1.0)
    assert accepted_since(n0) >= 3

    def pause_joints() -> None:
        # The camera keeps running (fresh chunks) while the joint states stop for 0.5 s.
        with cell.lock:
            cell.relay = False
        stream(0.5)
        with cell.lock:
            cell.relay = True

    expect("stale_joint_states", pause_joints)
    with cell.lock:
        commands = list(cell.commands)
    assert len(commands) > 20
    _check_within_limits(commands)


def test_streaming_mode_moves_the_arm_with_checked_targets(
    probe: GraphProbe, launch: Callable[..., NodeProcess]
) -> None:
    """mode: streaming — one forward-position target per tick, each within the limits tick to tick."""
    from std_msgs.msg import Float64MultiArray

    launch("sim", {"seed": 2}, params_files=[ROOT / "config" / "sim.yaml"])
    launch("commander", {"use_sim_time": True, "topics.joint_states": "/relay/joint_states",
                         "mode": "streaming", "streaming_rate_hz": 50.0},
           params_files=[ROOT / "config" / "safety.yaml"])
    cell = Cell(probe)
    targets: list[np.ndarray] = []
    probe.node.create_subscription(
        Float64MultiArray, "/forward_position_controller/commands",
        lambda m: targets.append(np.array(m.data)), COMMAND,
    )
    probe.wait_for_subscribers("/visuomotor/action_chunk")
    wait_until(lambda: cell.q is not None and cell.truth_ns > 0, 30, "joint states and ground truth")
    kin = Ur10eKinematics(T_flange_tcp=SimWorld.T_FLANGE_TCP)
    with cell.lock:
        q0 = cell.q.copy()
    T0 = kin.forward(q0)
    goal = T0.copy()
    goal[:3, 3] += [0.08, 0.05, -0.05]

    def along(k: int) -> list[np.ndarray]:  # the chunk a policy sends at tick k: the rest of the path
        return [T0 + (goal - T0) * min(k + i + 1, 10) / 10 for i in range(10)]

    def distance_to_goal() -> float:
        with cell.lock:
            return float(np.linalg.norm(kin.forward(cell.q)[:3, 3] - goal[:3, 3]))

    # A fresh chunk every 0.1 s keeps perception fresh; on a loaded machine the realtime sim may lag, so
    # keep sending the goal (up to 6 s more) until the arm is there.
    k = 0
    while k < 25 or (distance_to_goal() >= 0.01 and k < 85):
        cell.send_chunk(along(k))
        time.sleep(0.1)
        k += 1
    chunk = along(0)
    wait_until(lambda: len(targets) > 50, 10, "forward-position targets")
    assert distance_to_goal() < 0.01  # the arm got there
    cfg = SafetyConfig()
    q = np.array(targets)
    lim = cfg.joint_limits_rad()
    assert np.isfinite(q).all() and np.all(q >= lim[:, 0]) and np.all(q <= lim[:, 1])
    # Tick to tick (50 Hz) no joint moves faster than its limit.
    assert np.all(np.abs(np.diff(q, axis=0)) <= cfg.velocity_limits_rad_s() * 0.02 + 1e-6)
    # A NaN chunk: rejected, counted, and the stream holds instead of following it.
    bad = [T.copy() for T in chunk]
    bad[3][0, 3] = np.nan
    n_rej = cell.counts()[1]
    cell.send_chunk(bad)
    wait_until(lambda: cell.counts()[1] > n_rej, 10, "the NaN chunk's rejection")
    with cell.lock:
        assert cell.rejections[-1] == "non_finite"
