"""Fault injection on the real graph: the harness shared by ``tests/faults`` (CI) and ``bench/faults.py``.

:class:`ChaosGraph` runs the nodes in their own processes — the MuJoCo ``sim`` (the robot), the
``commander`` (trajectory mode, the shipped ``config/safety.yaml``), the ``latency_monitor`` and a
``scripted_pick`` whose commands go to side topics (it only listens here) — and a probe in this process
that stands where perception + policy stand: it streams small circular action chunks around the arm's
start pose, stamped with the newest camera frame. The sim publishes its joint states on
``/sim/joint_states``; the probe relays them to ``/joint_states`` (where the fuzzer also publishes) and
keeps the TRUE state, so every command any node publishes is re-checked against what the arm really did.

The nodes of the stack are respawned by their :class:`NodeProcess` (as the launch files do), so a kill -9
is survived without the harness restarting anything; :meth:`ChaosGraph.kill9_and_recover` measures the
respawn and the recovery. The sim is not respawned: it is the robot. :class:`StalenessAudit` follows the
inputs' ages on the graph's own clock (``/clock`` as the probe receives it) and checks that the commander
was holding whenever an input was stale for longer than one control period.

:func:`check_command` is that re-check, independent of ``SafetyGuard``: its own cubic Hermite sampling of
the path from the true state at receipt (positions, velocities and accelerations against the limits in
``config/safety.yaml``) and the whole-arm collision model (``visuomotor.control.collision``) on the same
samples. The message strategies below (hypothesis) generate the hostile input for every subscribed topic.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from hypothesis import strategies as st
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, Float64MultiArray, Int64, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from visuomotor.control import SafetyConfig
from visuomotor.control.collision import Aabb, CollisionChecker, CollisionModel, ToolBox
from visuomotor.kinematics import UR10E_JOINT_NAMES, Ur10eKinematics
from visuomotor.kinematics.ur10e import link_frames_batch
from visuomotor.sim import SimWorld
from visuomotor_interfaces.msg import (
    ActionChunk,
    ActionStep,
    FrameTrail,
    LatencyReport,
    SimGroundTruth,
    SimObject,
    StageTiming,
    TrackArray,
)
from visuomotor_ros.convert import duration_to_ns, matrix_to_pose, ns_to_duration, stamp_to_ns
from visuomotor_ros.launcher import NodeProcess
from visuomotor_ros.qos import CLOCK, COMMAND, LATCHED, SENSOR, STATE

ROOT = Path(__file__).resolve().parents[2]
JTC = "/scaled_joint_trajectory_controller/joint_trajectory"
FUZZER_NODE = "fuzzer"
NAMES = (*UR10E_JOINT_NAMES, "gripper_joint")
SAFETY = SafetyConfig()  # what config/safety.yaml holds (a unit test checks they are equal)

# ---------------------------------------------------------------------------------------- the check


@dataclass
class CheckResult:
    """Outcome of re-checking commands: how many, which broke a limit and why."""

    checked: int = 0
    outside: list[str] = field(default_factory=list)
    failed: list[Received] = field(default_factory=list)  # the commands behind ``outside``

    def add(self, other: CheckResult) -> None:
        self.checked += other.checked
        self.outside += other.outside


def _collision_checker() -> CollisionChecker:
    tool = ToolBox.along_tool_axis(
        SimWorld.T_FLANGE_TCP, SAFETY.tool_half_width_m, SAFETY.tool_tip_beyond_tcp_m
    )
    return CollisionChecker(
        CollisionModel(tool=tool),
        table_margin_m=0.0,  # physical contact, not the guard's margins (an arm may start inside those)
        tool_table_margin_m=0.0,
        self_margin_m=0.0,
        keepout_margin_m=0.0,
        keepout_boxes=Aabb.from_flat(SAFETY.keepout_boxes_m),
        workspace=Aabb(SAFETY.workspace_min_m, SAFETY.workspace_max_m),
    )


_CHECKER = _collision_checker()


def _hermite(p0: np.ndarray, v0: np.ndarray, p1: np.ndarray, v1: np.ndarray, T: float, s: np.ndarray):
    """Cubic Hermite position, velocity, acceleration at fractions ``s`` (n,) of a segment of T seconds."""
    s = s[:, None]
    h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
    d00, d10, d01, d11 = 6 * s**2 - 6 * s, 3 * s**2 - 4 * s + 1, -6 * s**2 + 6 * s, 3 * s**2 - 2 * s
    a00, a10, a01, a11 = 12 * s - 6, 6 * s - 4, -12 * s + 6, 6 * s - 2
    m0, m1 = v0 * T, v1 * T
    q = h00 * p0 + h10 * m0 + h01 * p1 + h11 * m1
    qd = (d00 * p0 + d10 * m0 + d01 * p1 + d11 * m1) / T
    qdd = (a00 * p0 + a10 * m0 + a01 * p1 + a11 * m1) / T**2
    return q, qd, qdd


def check_command(
    msg: JointTrajectory,
    q_true: np.ndarray,
    qd_true: np.ndarray,
    *,
    velocity_tolerance: float = 0.1,
    acceleration_tolerance: float = 0.5,
    acceleration_slack_rad_s2: float = 1.0,
) -> str | None:
    """Why ``msg``, executed from the true state (q, q̇), breaks a limit; None if it does not.

    A command with no points is the controller's own stop (nothing to check). Tolerances cover the
    difference between the commander's view of the arm (a few ms older, its velocity estimated) and the
    true state at receipt: velocity ×(1 + ``velocity_tolerance``), acceleration ×(1 +
    ``acceleration_tolerance``) + ``acceleration_slack_rad_s2``. The probe that motivated this check
    (25 rad/s² against 6) is far outside either.
    """
    if not msg.points:
        return None
    names = list(msg.joint_names)
    if sorted(names) != sorted(UR10E_JOINT_NAMES):
        return f"joint names {names}"
    order = [names.index(n) for n in UR10E_JOINT_NAMES]
    try:
        t = np.array([duration_to_ns(p.time_from_start) * 1e-9 for p in msg.points])
        q = np.array([[p.positions[i] for i in order] for p in msg.points], dtype=float)
        has_v = all(len(p.velocities) == len(names) for p in msg.points)
        qd = np.array([[p.velocities[i] for i in order] for p in msg.points], dtype=float) if has_v else None
    except (IndexError, ValueError) as err:
        return f"malformed command: {err}"
    if not (np.isfinite(t).all() and np.isfinite(q).all() and (qd is None or np.isfinite(qd).all())):
        return "NaN/inf in the command"
    if t[0] <= 0 or (np.diff(t) <= 0).any():
        return f"times not increasing: {t.tolist()}"
    knots_t = np.concatenate([[0.0], t])
    knots_q = np.vstack([q_true, q])
    # Without velocities the path is linear between points (velocity per segment, no acceleration).
    qd_knots = None if qd is None else np.vstack([qd_true, qd])
    lim = SAFETY.joint_limits_rad()
    vmax, amax = SAFETY.velocity_limits_rad_s(), SAFETY.acceleration_limits_rad_s2()
    samples = []
    s = np.linspace(0.0, 1.0, 41)
    for k in range(len(t)):
        T = knots_t[k + 1] - knots_t[k]
        if qd_knots is None:
            pos = knots_q[k] + s[:, None] * (knots_q[k + 1] - knots_q[k])
            vel = np.broadcast_to((knots_q[k + 1] - knots_q[k]) / T, pos.shape)
            acc = np.zeros_like(pos)
        else:
            pos, vel, acc = _hermite(knots_q[k], qd_knots[k], knots_q[k + 1], qd_knots[k + 1], T, s)
        if k == 0:
            # The first segment may not make things worse than the true start (which may be outside).
            lo, hi = np.minimum(lim[:, 0], q_true), np.maximum(lim[:, 1], q_true)
        else:
            lo, hi = lim[:, 0], lim[:, 1]
        if (pos < lo - 1e-6).any() or (pos > hi + 1e-6).any():
            j = int(np.argmax(((pos < lo - 1e-6) | (pos > hi + 1e-6)).any(axis=0)))
            return f"joint position: {UR10E_JOINT_NAMES[j]} leaves its limits in segment {k}"
        v_allowed = np.maximum(vmax * (1 + velocity_tolerance), np.abs(qd_true) + 1e-6 if k == 0 else 0.0)
        if (np.abs(vel) > v_allowed).any():
            j = int(np.argmax((np.abs(vel) / v_allowed).max(axis=0)))
            return (
                f"joint velocity: {UR10E_JOINT_NAMES[j]} {np.abs(vel[:, j]).max():.3f} rad/s "
                f"(limit {vmax[j]}) in segment {k}"
            )
        a_allowed = amax * (1 + acceleration_tolerance) + acceleration_slack_rad_s2
        if (np.abs(acc) > a_allowed).any():
            j = int(np.argmax((np.abs(acc) / a_allowed).max(axis=0)))
            return (
                f"joint acceleration: {UR10E_JOINT_NAMES[j]} {np.abs(acc[:, j]).max():.2f} rad/s² "
                f"(limit {amax[j]}) in segment {k} from the true state q̇ = {np.round(qd_true, 3).tolist()}"
            )
        samples.append(pos)
    return _collision(np.vstack(samples), q_true)


def _collision(path: np.ndarray, q_true: np.ndarray) -> str | None:
    frames = link_frames_batch(np.vstack([q_true, path[::2]]))
    c = _CHECKER.clearances(frames)
    start_table = c.table[0]
    # Physical contact only, and never worse than the true start (an arm may start close).
    table = c.table[1:] < np.minimum(0.0, start_table) - 2e-3
    if table.any():
        i, j = np.argwhere(table)[0]
        return f"collision: the {c.table_parts[j]} reaches {c.table[1 + i, j]:.4f} m vs the table"
    if c.self_pairs.size and (c.self_pairs[1:] < np.minimum(0.0, c.self_pairs[0]) - 2e-3).any():
        i, j = np.argwhere(c.self_pairs[1:] < np.minimum(0.0, c.self_pairs[0]) - 2e-3)[0]
        return f"collision: {c.self_pair_names[j]} overlap by {-c.self_pairs[1 + i, j]:.4f} m"
    if c.workspace.size and (c.workspace[1:] < np.minimum(0.0, c.workspace[0]) - 1e-2).any():
        return "collision: the tool leaves the workspace box by more than 1 cm"
    return None


# ---------------------------------------------------------------------------------------- the graph



@contextlib.contextmanager
def node_processes(logs: Path) -> Iterator[tuple[Callable[..., NodeProcess], list[NodeProcess]]]:
    """``launch(name, params, **kwargs)`` starting node processes that log under ``logs``; every one is
    stopped (last first) when the block ends. The tests' fixtures and bench/faults.py share it."""
    procs: list[NodeProcess] = []

    def launch(name: str, params: dict[str, Any] | None = None, **kwargs: Any) -> NodeProcess:
        proc = NodeProcess(name, params=params, log_path=logs / f"{name}-{len(procs)}.log", **kwargs)
        procs.append(proc)
        return proc

    try:
        yield launch, procs
    finally:
        for proc in reversed(procs):
            proc.stop()

@dataclass
class Received:
    """A command as the probe received it, with the true states of the last ``HISTORY_S`` before it."""

    t_wall: float
    history: list[tuple[np.ndarray, np.ndarray]]  # (q, q̇), newest first
    msg: JointTrajectory


#: The commander may plan from a joint state up to ``joint_state_timeout_s`` (0.2 s) old — the guard
#: extrapolates it to the plan time at its velocity — and the command then travels to the controller:
#: the re-check accepts a command that is inside the limits from ANY true state of that window, newest
#: first (a 20 ms offset at 0.4 rad/s already changes a 0.1 s segment's acceleration by ~4 rad/s²).
HISTORY_S = SAFETY.joint_state_timeout_s + 0.05


def check_received(r: Received) -> str | None:
    """``check_command`` from the newest true state that passes; the newest's failure if none does."""
    first = None
    for q, qd in r.history:
        why = check_command(r.msg, q, qd)
        if why is None:
            return None
        first = first or why
    return first


#: Commander watchdog period (config: watchdog_rate_hz 20): one control period, the hold's latency goal.
CONTROL_PERIOD_S = 0.05
#: The nodes of the stack the graph runs by default (respawned); the sim stands for the robot.
STACK = ("commander", "latency_monitor", "scripted_pick")
#: What each node of the stack publishes when it works: its first message after a respawn is its recovery.
WORKING_SIGNAL = {
    "commander": "an accepted command",
    "latency_monitor": "/visuomotor/latency",
    "scripted_pick": "/scripted/frame_trail",
}


@dataclass
class StaleSpan:
    """An interval (probe's monotonic clock) in which an input was older than its timeout on /clock."""

    what: str  # "joint states" or "perception"
    start: float
    end: float | None = None


class StalenessAudit:
    """Follows the inputs' ages on the graph's clock and finds the spans where the commander must hold.

    On every ``/clock`` the probe receives (the clock the commander runs on, over the same path): the age
    of the newest joint state the probe relayed and of the newest chunk stamp it published. Either older
    than its timeout means the commander's input is at least that old (it has nothing newer): it must hold.
    :meth:`verify` checks, for every span longer than one control period + ``margin_s``, that the last
    command before ``start + CONTROL_PERIOD_S + margin_s`` was a HOLD and that no motion was accepted in
    the rest of the span; the hold latency is the time from the span's start to that HOLD (0 when a HOLD
    was already in force).
    """

    def __init__(self) -> None:
        self.clock_ns: int | None = None
        self.joints_ns: int | None = None
        self.chunk_ns: int | None = None
        self.spans: list[StaleSpan] = []
        self._open: dict[str, StaleSpan] = {}
        self.enabled = False

    def update(self, now: float) -> None:
        """Called with the lock held on every /clock, joint state and chunk."""
        if not self.enabled or self.clock_ns is None:
            return
        for what, stamp, timeout in (
            ("joint states", self.joints_ns, SAFETY.joint_state_timeout_s),
            ("perception", self.chunk_ns, SAFETY.perception_timeout_s),
        ):
            stale = stamp is not None and abs(self.clock_ns - stamp) > timeout * 1e9
            span = self._open.get(what)
            if stale and span is None:
                self._open[what] = span = StaleSpan(what, now)
                self.spans.append(span)
            elif not stale and span is not None:
                span.end = now
                del self._open[what]

    def start(self) -> None:
        self.enabled = True

    def stop(self, now: float) -> None:
        self.enabled = False
        for span in self._open.values():
            span.end = now
        self._open.clear()

    def verify(self, received: Sequence[Received], margin_s: float = 0.05) -> tuple[list[str], list[float]]:
        """(spans where the commander did not hold, hold latencies in s of the spans that count)."""
        times = [r.t_wall for r in received]
        holds = [len(r.msg.points) <= 1 for r in received]
        missed, latencies = [], []
        for span in self.spans:
            end = span.end if span.end is not None else math.inf
            due = span.start + CONTROL_PERIOD_S + margin_s
            if end - span.start <= CONTROL_PERIOD_S + margin_s:
                continue  # shorter than a control period and the jitter between probe and commander
            before = [i for i, t in enumerate(times) if t <= due]
            if not before or not holds[before[-1]]:
                missed.append(f"{span.what} stale from {span.start:.3f} for {end - span.start:.3f} s: "
                              "no HOLD within one control period")
                continue
            moved = [times[i] for i in range(before[-1] + 1, len(times)) if times[i] < end and not holds[i]]
            if moved:
                missed.append(f"{span.what} stale from {span.start:.3f}: a motion accepted at {moved[0]:.3f}")
                continue
            # The HOLD in force at ``due`` began with the first of the run of HOLDs that ends there.
            first = before[-1]
            while first > 0 and holds[first - 1]:
                first -= 1
            latencies.append(max(0.0, times[first] - span.start))  # 0: already holding when it went stale
        return missed, latencies


class ArmWatch:
    """The measured arm against the limits (``StateMonitor``) from now on: ``follow()`` checks each true
    joint state the probe received since the last call (call it more often than every 2 s)."""

    def __init__(self, graph: ChaosGraph) -> None:
        from visuomotor.control import StateMonitor

        self.graph = graph
        self.monitor = StateMonitor(SAFETY, T_flange_tcp=SimWorld.T_FLANGE_TCP)
        self._last_t = time.monotonic()

    def follow(self) -> None:
        with self.graph.lock:
            states = [(t, q, qd) for t, q, qd in self.graph.history if t > self._last_t]
        for _, q, qd in states:
            self.monitor.check(q, qd)
        if states:
            self._last_t = states[-1][0]

    @property
    def violations(self) -> list[str]:
        return [f"{v.reason}: {v.detail}" for v in self.monitor.violations]


@dataclass
class Recovery:
    """A kill -9 of one node and what followed."""

    node: str
    respawned_after_s: float  # kill → the new process started (the respawn delay + the watcher)
    accepted_after_respawn_s: float  # new process started → the first accepted command after it
    working_after_respawn_s: float  # new process started → the node's own first output (WORKING_SIGNAL)
    violations: list[str]  # the measured arm against the limits, kill → recovery


class ChaosGraph:
    """The nodes in their processes, the probe, the chunk stream and the record of every command.

    Args:
        probe: the test process's node (``GraphProbe``).
        launch: starts a node process: ``launch(name, params, params_files=..., **kwargs)`` → NodeProcess.
        camera_hz: the sim's camera (and ground truth) rate.
        stack: the nodes besides the sim, each respawned ``respawn_delay_s`` after it dies.
        launch_kwargs: extra ``launch`` arguments per node name (``program``, ``env``: another namespace).
        perception: also run the ``perception`` process on the sim's camera and stamp the chunks with its
            tracks, one chunk per tracks message (as the policy ticks); else the chunks are stamped with
            the newest ground truth (the camera) at 10 Hz.
        external_truth: the arm's true state comes from :meth:`feed_truth` (read next to the robot),
            not from the joint states the probe receives over DDS (late or lost on an impaired link).
    """

    def __init__(
        self,
        probe: Any,
        launch: Callable[..., NodeProcess],
        *,
        camera_hz: float = 10.0,
        stack: Sequence[str] = STACK,
        respawn_delay_s: float = 1.0,
        launch_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
        perception: bool = False,
        external_truth: bool = False,
    ) -> None:
        self.probe = probe
        self.launch = launch
        node = probe.node
        self.node = node
        self.lock = threading.Lock()
        self.q: np.ndarray | None = None
        self.qd = np.zeros(6)
        self.history: collections.deque[tuple[float, np.ndarray, np.ndarray]] = collections.deque(maxlen=200)
        self.truth_ns = -1
        self.tracks_ns = -1
        self.relay = True
        self.frozen_stamp_ns: int | None = None  # set: the camera stalled, chunks keep the last frame's stamp
        self.received: list[Received] = []
        self.rejections: list[tuple[float, str]] = []
        self.estop_state: list[bool] = []
        self.signals: dict[str, list[float]] = {name: [] for name in WORKING_SIGNAL}
        self.joints_seen: list[float] = []  # receipt times of the sim's joint states
        self.clock_seen = -1.0  # receipt time of the newest /clock
        self.audit = StalenessAudit()
        self.faults = 0
        self.marks: list[tuple[float, str]] = [(time.monotonic(), "start")]
        self._procs: dict[str, NodeProcess] = {}
        self._params: dict[str, tuple[dict[str, Any], list[Path]]] = {}
        self._respawn_delay_s = respawn_delay_s
        self._launch_kwargs = {k: dict(v) for k, v in (launch_kwargs or {}).items()}
        self._stack = tuple(stack)
        self._on_tracks_mode = perception
        self._external_truth = external_truth
        self._start(
            "sim",
            {"seed": 2, "publish_rate_hz": camera_hz, "topics.joint_states": "/sim/joint_states"},
            [ROOT / "config" / "sim.yaml"],
        )
        stack_params: dict[str, tuple[dict[str, Any], list[Path]]] = {
            "commander": ({"use_sim_time": True}, [ROOT / "config" / "safety.yaml"]),
            "latency_monitor": (
                {"use_sim_time": True, "print_table": False},
                [ROOT / "config" / "latency_monitor.yaml"],
            ),
            "scripted_pick": (
                {
                    "topics.trajectory": "/scripted/trajectory",
                    "topics.gripper": "/scripted/gripper",
                    "topics.frame_trail": "/scripted/frame_trail",
                    "start_delay_s": 600.0,
                },
                [],
            ),
            # The composed perception process; its own latency monitor ends at the tracks.
            "perception": (
                {"use_sim_time": True, "latency_monitor:print_table": False},
                [ROOT / "config" / "perception.yaml"],
            ),
        }
        for name in (*self._stack, *(("perception",) if perception else ())):
            self._start(name, *stack_params[name])
        self.relay_pub = node.create_publisher(JointState, "/joint_states", STATE)
        self.chunk_pub = node.create_publisher(ActionChunk, "/visuomotor/action_chunk", STATE)
        self.estop_pub = node.create_publisher(
            Bool, "/visuomotor/estop", STATE
        )  # volatile, like ros2 topic pub
        self.reset_pub = node.create_publisher(Int64, "/sim/reset", COMMAND)
        self._home_pub = node.create_publisher(JointTrajectory, JTC, COMMAND)
        self._q_start: np.ndarray | None = None
        node.create_subscription(JointState, "/sim/joint_states", self._on_joints, STATE)
        node.create_subscription(SimGroundTruth, "/sim/ground_truth", self._on_truth, STATE)
        node.create_subscription(JointTrajectory, JTC, self._on_command, COMMAND)
        self._gid_is_probe: dict[bytes, bool] = {}  # the fuzzer's messages on the JTC topic are not commands
        node.create_subscription(String, "/visuomotor/rejections", self._on_rejection, STATE)
        node.create_subscription(Bool, "/visuomotor/estop_state", self._on_estop_state, LATCHED)
        node.create_subscription(Clock, "/clock", self._on_clock, CLOCK)
        node.create_subscription(
            LatencyReport, "/visuomotor/latency", lambda _: self._signal("latency_monitor"), STATE
        )
        node.create_subscription(
            FrameTrail, "/scripted/frame_trail", lambda _: self._signal("scripted_pick"), STATE
        )
        if perception:
            node.create_subscription(TrackArray, "/visuomotor/tracks", self._on_tracks, STATE)
        self.reset_client = node.create_client(Trigger, "/visuomotor/estop/reset")
        self._stream_on = threading.Event()
        self._stop = threading.Event()
        self._phase = 0.0
        self._T0: np.ndarray | None = None
        self._kin = Ur10eKinematics(T_flange_tcp=SimWorld.T_FLANGE_TCP)
        self._thread = threading.Thread(target=self._stream, daemon=True)
        self._thread.start()

    # -- processes
    def _start(self, name: str, params: dict[str, Any], files: list[Path] | None = None) -> None:
        kwargs = dict(self._launch_kwargs.get(name, {}))
        if name != "sim":  # the sim is the robot: a robot that dies is not restarted by the stack
            kwargs |= {"respawn": True, "respawn_delay_s": self._respawn_delay_s}
        self._procs[name] = self.launch(name, params, params_files=files or [], **kwargs)
        self._params[name] = (params, files or [])

    def alive(self) -> dict[str, bool]:
        return {name: p.alive() for name, p in self._procs.items()}

    def restarts(self) -> dict[str, int]:
        """Respawns so far, per node (a node that died from input shows here even though it is back)."""
        return {name: p.restarts for name, p in self._procs.items()}

    def process(self, name: str) -> NodeProcess:
        return self._procs[name]

    def output(self, name: str) -> str:
        return self._procs[name].output()

    def kill9(self, name: str) -> float:
        """SIGKILL the node's current process; returns when it is gone (time.monotonic() of the kill)."""
        proc = self._procs[name].proc
        t = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        return t

    def kill9_and_recover(self, name: str, timeout_s: float = 40.0) -> Recovery:
        """kill -9 the node, follow the arm until the respawned node works again (or ``timeout_s``).

        The arm is checked against the limits all along (``StateMonitor`` on the true joint states): the
        others must hold it while the node is gone. Raises TimeoutError if there is no respawn, no accepted
        command after it or no output of the node's own.
        """
        proc = self._procs[name]
        watch = ArmWatch(self)
        before = proc.restarts
        t_kill = self.kill9(name)
        self.faults += 1
        end = t_kill + timeout_s
        while proc.restarts <= before:
            watch.follow()
            if time.monotonic() > end:
                raise TimeoutError(f"{name} was not respawned within {timeout_s} s")
            time.sleep(0.01)
        t_respawn = proc.respawned_at[before]
        accepted = working = None
        while accepted is None or working is None:
            watch.follow()
            with self.lock:
                accepted = accepted or next(
                    (r.t_wall for r in self.received if r.t_wall >= t_respawn and len(r.msg.points) > 1), None
                )
                own = self.signals.get(name)
                working = working or (
                    accepted if name == "commander" else next((t for t in own or [] if t >= t_respawn), None)
                )
            if time.monotonic() > end:
                raise TimeoutError(
                    f"after the respawn of {name}: accepted command {accepted}, its own output {working}"
                )
            time.sleep(0.01)
        return Recovery(
            name,
            respawned_after_s=t_respawn - t_kill,
            accepted_after_respawn_s=accepted - t_respawn,
            working_after_respawn_s=working - t_respawn,
            violations=watch.violations,
        )

    def restart(self, name: str) -> None:
        """Start the node anew (a node without respawn that died; the respawned ones come back alone)."""
        params, files = self._params[name]
        self._start(name, params, files)

    def pause(self, name: str, seconds: float) -> None:
        """SIGSTOP the process for ``seconds`` (a driver or camera that stalls), then SIGCONT."""
        pid = self._procs[name].proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with self.lock:
                ready = self.q is not None and self.truth_ns > 0 and self.estop_state[-1:] == [False]
                ready = ready and (not self._on_tracks_mode or self.tracks_ns > 0)
            if ready and self.node.count_subscribers("/visuomotor/action_chunk") >= 1:
                with self.lock:
                    self._T0 = self._kin.forward(self.q)
                    self._q_start = self.q.copy()
                return
            time.sleep(0.05)
        raise TimeoutError(f"the graph did not come up: {self.alive()}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    # -- the probe's callbacks
    def _on_joints(self, msg: JointState) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        now = time.monotonic()
        with self.lock:
            if not self._external_truth:
                self.q = np.array([msg.position[index[n]] for n in UR10E_JOINT_NAMES])
                self.qd = np.array([msg.velocity[index[n]] for n in UR10E_JOINT_NAMES])
                self.history.append((now, self.q, self.qd))
            self.joints_seen.append(now)
            del self.joints_seen[:-20000]
            relay = self.relay
            if relay:
                self.audit.joints_ns = stamp_to_ns(msg.header.stamp)
                self.audit.update(now)
        if relay:
            self.relay_pub.publish(msg)

    def feed_truth(self, t: float, q: np.ndarray, qd: np.ndarray) -> None:
        """The arm's true state at ``t`` (time.monotonic()), with ``external_truth``."""
        with self.lock:
            self.q, self.qd = q, qd
            self.history.append((t, q, qd))

    def _on_truth(self, msg: SimGroundTruth) -> None:
        with self.lock:
            self.truth_ns = stamp_to_ns(msg.header.stamp)

    def _on_tracks(self, msg: TrackArray) -> None:
        """Perception's output: one chunk per tracks message, stamped with its camera stamp (the policy)."""
        with self.lock:
            self.tracks_ns = stamp_to_ns(msg.header.stamp)
        if self._stream_on.is_set() and self._T0 is not None:
            self._publish_chunk(self.tracks_ns)

    def _on_clock(self, msg: Clock) -> None:
        now = time.monotonic()
        with self.lock:
            self.clock_seen = now
            self.audit.clock_ns = stamp_to_ns(msg.clock)
            self.audit.update(now)

    def _signal(self, name: str) -> None:
        with self.lock:
            self.signals[name].append(time.monotonic())
            del self.signals[name][:-1000]

    def _on_command(self, msg: JointTrajectory, info: dict) -> None:
        gid = bytes((info.get("publisher_gid") or {}).get("data") or b"")
        if self._from_probe(gid):
            return
        now = time.monotonic()
        with self.lock:
            history = [(q, qd) for t, q, qd in reversed(self.history) if now - t <= HISTORY_S]
            if history:
                self.received.append(Received(now, history, msg))

    def _from_probe(self, gid: bytes) -> bool:
        """Whether a JointTrajectory came from this process (the probe's homing, the fuzzer), by its GID."""
        known = self._gid_is_probe.get(gid)
        if known is not None:
            return known
        for ep in self.node.get_publishers_info_by_topic(JTC):
            if gid and bytes(ep.endpoint_gid) == gid[: len(ep.endpoint_gid)]:
                self._gid_is_probe[gid] = ep.node_name in (self.node.get_name(), FUZZER_NODE)
                return self._gid_is_probe[gid]
        return False

    def _on_rejection(self, msg: String) -> None:
        with self.lock:
            self.rejections.append((time.monotonic(), msg.data))

    def _on_estop_state(self, msg: Bool) -> None:
        with self.lock:
            self.estop_state.append(bool(msg.data))

    # -- the chunk stream (perception + policy stand-in)
    def streaming(self, on: bool) -> None:
        (self._stream_on.set if on else self._stream_on.clear)()

    def _stream(self) -> None:
        while not self._stop.wait(0.1):
            if not self._stream_on.is_set() or self._T0 is None or self._on_tracks_mode:
                continue
            with self.lock:
                stamp = self.truth_ns if self.frozen_stamp_ns is None else self.frozen_stamp_ns
            self._publish_chunk(stamp)

    def _publish_chunk(self, stamp: int) -> None:
        """A chunk of small circles around the anchor pose, stamped as the frame it was computed from."""
        assert self._T0 is not None
        msg = ActionChunk()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        msg.header.frame_id = "base_link"
        msg.step_period = ns_to_duration(100_000_000)
        msg.target_track_id = -1
        steps = []
        for i in range(10):
            T = self._T0.copy()
            a = self._phase + 0.1 * i
            T[:3, 3] += [0.03 * math.cos(a) - 0.03, 0.03 * math.sin(a), 0.0]
            steps.append(ActionStep(tcp_pose=matrix_to_pose(T), gripper=0.0))
        msg.steps = steps
        self._phase += 0.1
        with self.lock:
            self.audit.chunk_ns = stamp
            self.audit.update(time.monotonic())
        self.chunk_pub.publish(msg)

    def mark(self, what: str) -> None:
        """Note what the graph is going through from now on (failures name the phase they fell in)."""
        self.marks.append((time.monotonic(), what))

    def phase_at(self, t: float) -> str:
        return [name for when, name in self.marks if when <= t][-1]

    def home(self, timeout_s: float = 15.0) -> None:
        """Bring the arm back to where the graph started, if it is elsewhere, and stream around it again.

        Fuzzed chunks that pass the guard are real motions: they may leave the arm anywhere inside the
        limits, e.g. where the stream's circle has no IK solution. The probe then pauses the stream, lets
        the commander hold (stale perception), and sends one slow trajectory home itself (a recovery move
        of the test, not recorded as a command of the graph).
        """
        with self.lock:
            far = (
                self.q is not None
                and self._q_start is not None
                and float(np.abs(self.q - self._q_start).max()) > 0.3
            )  # the circle itself moves < 0.2 rad
        if far:
            self.streaming(False)
            t = time.monotonic()
            end = t + timeout_s
            # The commander holds once perception is stale (unless it already holds): then it is quiet.
            while time.monotonic() < t + 1.0 and "stale_perception" not in self.rejections_since(t):
                time.sleep(0.02)
            with self.lock:
                distance = float(np.abs(self.q - self._q_start).max())
            duration = max(2.0, 3.0 * distance / 0.5)
            msg = JointTrajectory(joint_names=list(UR10E_JOINT_NAMES))
            msg.points = [
                JointTrajectoryPoint(
                    positions=[float(x) for x in self._q_start],
                    velocities=[0.0] * 6,
                    time_from_start=ns_to_duration(round(duration * 1e9)),
                )
            ]
            self._home_pub.publish(msg)
            while time.monotonic() < end:
                with self.lock:
                    if np.abs(self.q - self._q_start).max() < 0.01 and np.abs(self.qd).max() < 0.01:
                        break
                time.sleep(0.02)
            self.streaming(True)
        self.reanchor()

    def reanchor(self) -> None:
        """Stream chunks around where the arm is now (a fuzzed chunk the guard accepted may have moved it)."""
        with self.lock:
            self._T0 = self._kin.forward(self.q)

    def freeze_camera(self, frozen: bool) -> None:
        """A camera stall (on) and resume (off): the policy keeps acting on the last frame it saw."""
        with self.lock:
            self.frozen_stamp_ns = self.truth_ns if frozen else None
        self.faults += int(frozen)

    # -- what happened
    def accepted_since(self, t: float) -> int:
        with self.lock:
            return sum(1 for r in self.received if r.t_wall >= t and len(r.msg.points) > 1)

    def rejections_since(self, t: float) -> list[str]:
        with self.lock:
            return [reason for when, reason in self.rejections if when >= t]

    def check_commands(self, since: int = 0) -> tuple[CheckResult, int]:
        """Re-check every command received from index ``since``; returns the result and the next index."""
        with self.lock:
            todo = self.received[since:]
            end = len(self.received)
        result = CheckResult()
        for r in todo:
            why = check_received(r)
            result.checked += 1
            if why is not None:
                kind = "HOLD" if len(r.msg.points) <= 1 else f"{len(r.msg.points)}-point motion"
                result.outside.append(f"[during {self.phase_at(r.t_wall)}, a {kind}] {why}")
                result.failed.append(r)
        return result, end

    def rewind_clock(self, seed: int = 2) -> None:
        """The sim's reset (a new episode): sim time and /clock back to 0, the arm at home, new cubes."""
        self.reset_pub.publish(Int64(data=seed))
        self.faults += 1

    def clock_now_ns(self) -> int | None:
        """The graph's clock as the probe last received it."""
        with self.lock:
            return self.audit.clock_ns

    def reset_estop(self) -> None:
        assert self.reset_client.wait_for_service(timeout_sec=10)
        future = self.reset_client.call_async(Trigger.Request())
        end = time.monotonic() + 10
        while not future.done() and time.monotonic() < end:
            time.sleep(0.01)

    def estop_hold_latency_ms(self, timeout_s: float = 5.0) -> float:
        """Engage the e-stop from a volatile publisher; ms until the HOLD reached the controller's topic."""
        with self.lock:
            n = len(self.received)
        t0 = time.monotonic()
        self.estop_pub.publish(Bool(data=True))
        self.faults += 1
        end = t0 + timeout_s
        while time.monotonic() < end:
            with self.lock:
                holds = [r for r in self.received[n:] if len(r.msg.points) <= 1]
            if holds:
                return (holds[0].t_wall - t0) * 1e3
            time.sleep(0.001)
        return math.inf


# ---------------------------------------------------------------------------------------- strategies
BAD = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 1e9, -50.0, 7.0])
ANY_FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=True), BAD)
TEXT = st.text(max_size=40)
NAME_LISTS = st.one_of(
    st.permutations(NAMES).map(list),
    st.lists(st.sampled_from([*NAMES, "", "x", " shoulder_pan_joint"]), max_size=10),
    st.just(list(UR10E_JOINT_NAMES)),
)
# Stamps relative to the graph's clock at publish time: now, long past, far future, zero, anything.
STAMPS = st.one_of(
    st.sampled_from(["now", "zero"]),
    st.tuples(st.just("offset"), st.integers(-(10**12), 10**12)),
    st.tuples(st.just("raw"), st.integers(-(2**31), 2**31 - 1), st.integers(0, 999_999_999)),
)


def stamp(spec: Any, now_ns: int) -> Time:
    if spec == "now":
        ns = now_ns
    elif spec == "zero":
        ns = 0
    elif spec[0] == "offset":
        ns = now_ns + spec[1]
    else:
        return Time(sec=spec[1], nanosec=spec[2])
    sec, nanosec = divmod(max(min(ns, (2**31 - 1) * 10**9), -(2**31) * 10**9), 1_000_000_000)
    return Time(sec=int(sec), nanosec=int(nanosec))


def _floats(n_max: int = 14) -> st.SearchStrategy[list[float]]:
    return st.one_of(st.lists(ANY_FLOAT, max_size=n_max), st.just([0.0] * 100_000))


@st.composite
def joint_states(draw: st.DrawFn) -> tuple[Any, JointState]:
    msg = JointState()
    msg.name = draw(NAME_LISTS)
    n = len(msg.name)
    plausible = draw(st.booleans())
    if plausible and n:  # the right length, near-home values: what a second driver would send
        msg.position = draw(st.lists(st.floats(-3.0, 3.0), min_size=n, max_size=n))
    else:
        msg.position = draw(_floats())
    msg.velocity = draw(st.one_of(st.just([]), _floats()))
    msg.effort = draw(st.one_of(st.just([]), _floats()))
    return draw(STAMPS), msg


def _pose(draw: st.DrawFn) -> Pose:
    p = draw(st.tuples(ANY_FLOAT, ANY_FLOAT, ANY_FLOAT))
    q = draw(st.one_of(st.tuples(ANY_FLOAT, ANY_FLOAT, ANY_FLOAT, ANY_FLOAT), st.just((0.0, 0.0, 0.0, 0.0))))
    return Pose(
        position=Point(x=p[0], y=p[1], z=p[2]), orientation=Quaternion(x=q[0], y=q[1], z=q[2], w=q[3])
    )


@st.composite
def action_chunks(draw: st.DrawFn) -> tuple[Any, ActionChunk]:
    msg = ActionChunk()
    k = draw(st.one_of(st.integers(0, 12), st.just(5000)))
    step = ActionStep(tcp_pose=_pose(draw), gripper=draw(ANY_FLOAT))
    msg.steps = (
        [step] * k
        if k > 12
        else [ActionStep(tcp_pose=_pose(draw), gripper=draw(ANY_FLOAT)) for _ in range(k)]
    )
    msg.step_period = Duration(
        sec=draw(st.integers(-(2**31), 2**31 - 1)), nanosec=draw(st.integers(0, 10**9 - 1))
    )
    msg.target_track_id = draw(st.integers(-(2**31), 2**31 - 1))
    msg.timings = draw(
        st.lists(
            st.builds(
                StageTiming,
                stage=TEXT,
                start_ns=st.integers(-(2**63), 2**63 - 1),
                end_ns=st.integers(-(2**63), 2**63 - 1),
            ),
            max_size=3,
        )
    )
    return draw(STAMPS), msg


@st.composite
def bad_trajectories(draw: st.DrawFn) -> tuple[Any, JointTrajectory]:
    """Trajectories the sim must refuse (or, with no points, treat as a stop): never a valid motion."""
    msg = JointTrajectory(joint_names=draw(NAME_LISTS))
    n_points = draw(st.integers(0, 4))
    for _ in range(n_points):
        length = draw(st.integers(0, 8))
        positions = draw(st.lists(BAD, min_size=length, max_size=length))
        if length and not any(math.isnan(x) or abs(x) > 6.3 for x in positions):
            positions[0] = math.nan
        msg.points.append(
            JointTrajectoryPoint(
                positions=positions,
                velocities=draw(st.lists(ANY_FLOAT, max_size=8)),
                time_from_start=Duration(
                    sec=draw(st.integers(-5, 5)), nanosec=draw(st.integers(0, 10**9 - 1))
                ),
            )
        )
    return draw(STAMPS), msg


@st.composite
def frame_trails(draw: st.DrawFn) -> tuple[Any, FrameTrail]:
    msg = FrameTrail()
    msg.timings = draw(
        st.lists(
            st.builds(
                StageTiming,
                stage=TEXT,
                start_ns=st.integers(-(2**63), 2**63 - 1),
                end_ns=st.integers(-(2**63), 2**63 - 1),
            ),
            max_size=6,
        )
    )
    return draw(STAMPS), msg


@st.composite
def camera_infos(draw: st.DrawFn) -> tuple[Any, CameraInfo]:
    msg = CameraInfo(width=draw(st.integers(0, 2**32 - 1)), height=draw(st.integers(0, 2**32 - 1)))
    msg.k = draw(st.lists(ANY_FLOAT, min_size=9, max_size=9))
    msg.distortion_model = draw(TEXT)
    return draw(STAMPS), msg


@st.composite
def ground_truths(draw: st.DrawFn) -> tuple[Any, SimGroundTruth]:
    msg = SimGroundTruth()
    objects = []
    for _ in range(draw(st.integers(0, 4))):
        e = draw(st.tuples(ANY_FLOAT, ANY_FLOAT, ANY_FLOAT))
        objects.append(
            SimObject(
                name=draw(TEXT),
                class_name=draw(st.sampled_from(["red_cube", "bin", "", "x"])),
                pose=_pose(draw),
                size_m=draw(ANY_FLOAT),
                extent=Vector3(x=e[0], y=e[1], z=e[2]),
            )
        )
    msg.objects = objects
    return draw(STAMPS), msg


@st.composite
def images(draw: st.DrawFn) -> tuple[Any, Image]:
    msg = Image(
        height=draw(st.integers(0, 5000)),
        width=draw(st.integers(0, 5000)),
        encoding=draw(st.sampled_from(["rgb8", "bgr8", "16UC1", "32FC1", "mono8", "yuv422", "", "x" * 50])),
        is_bigendian=draw(st.integers(0, 1)),
        step=draw(st.integers(0, 2**32 - 1)),
    )
    msg.data = draw(st.binary(max_size=64))
    return draw(STAMPS), msg


def arrays(bad_only: bool) -> st.SearchStrategy[tuple[Any, Float64MultiArray]]:
    values = BAD if bad_only else ANY_FLOAT
    return st.tuples(st.just("now"), st.builds(Float64MultiArray, data=st.lists(values, max_size=10)))


#: (topic, message type, QoS, strategy) for every subscribed topic of the nodes in the graph.
FUZZ_TARGETS: dict[str, tuple[str, type, QoSProfile, st.SearchStrategy[Any]]] = {
    "commander/joint_states": ("/joint_states", JointState, STATE, joint_states()),
    "commander/action_chunk": ("/visuomotor/action_chunk", ActionChunk, STATE, action_chunks()),
    "sim/trajectory": (JTC, JointTrajectory, COMMAND, bad_trajectories()),
    "sim/forward": ("/forward_position_controller/commands", Float64MultiArray, COMMAND, arrays(True)),
    "sim/gripper": ("/gripper_controller/commands", Float64MultiArray, COMMAND, arrays(False)),
    "sim/reset": (
        "/sim/reset",
        Int64,
        COMMAND,
        st.tuples(st.just("now"), st.builds(Int64, data=st.integers(2**32, 2**63 - 1))),
    ),
    "sim+monitor/frame_trail": ("/visuomotor/frame_trail", FrameTrail, STATE, frame_trails()),
    "monitor/source_trail": ("/sim/frame_trail", FrameTrail, STATE, frame_trails()),
    "monitor/camera_info": ("/camera/camera/color/camera_info", CameraInfo, SENSOR, camera_infos()),
    "monitor/rejections": (
        "/visuomotor/rejections",
        String,
        STATE,
        st.tuples(st.just("now"), st.builds(String, data=st.text(max_size=10_000))),
    ),
    "scripted_pick/ground_truth": ("/sim/ground_truth", SimGroundTruth, STATE, ground_truths()),
    "scripted_pick/color": ("/camera/camera/color/image_raw", Image, SENSOR, images()),
    "commander/estop": (
        "/visuomotor/estop",
        Bool,
        STATE,
        st.tuples(st.just("now"), st.builds(Bool, data=st.booleans())),
    ),
}

BEST_EFFORT = QoSProfile(
    depth=10, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE
)


class Fuzzer:
    """Publishers for every fuzz target on a node of its own (``FUZZER_NODE``, in the probe's process): a
    second publisher beside the driver, as ``ros2 topic pub`` or a misconfigured node would be. ``send``
    stamps and publishes one message."""

    def __init__(self, graph: ChaosGraph) -> None:
        self.graph = graph
        self.node = Node(FUZZER_NODE, context=graph.probe.context)
        graph.probe.add_node(self.node)
        self.pubs = {
            key: self.node.create_publisher(mtype, topic, qos)
            for key, (topic, mtype, qos, _) in FUZZ_TARGETS.items()
        }
        end = time.monotonic() + 10.0  # the nodes' subscriptions match (endpoint discovery, same participant)
        while time.monotonic() < end and any(p.get_subscription_count() == 0 for p in self.pubs.values()):
            time.sleep(0.05)

    def send(self, key: str, drawn: tuple[Any, Any]) -> None:
        spec, msg = drawn
        if hasattr(msg, "header"):
            msg.header.stamp = stamp(
                spec, self.graph.node.get_clock().now().nanoseconds if spec != "now" else self._sim_now()
            )
        self.pubs[key].publish(msg)
        self.graph.faults += 1

    def _sim_now(self) -> int:
        with self.graph.lock:
            return max(self.graph.truth_ns, 0)
