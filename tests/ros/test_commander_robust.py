"""The commander as a node that cannot be broken (issue 10's probes, each a regression test).

A fake arm in the test process publishes ``/joint_states`` (static or moving, with or without velocities,
NaN on demand); the commander runs in its own process on the wall clock. Probes on the old code:

- one JointState with 6 names and 2 positions killed the commander (IndexError);
- NaN joint states made the HOLD go to the last planned joints (a 3.4 rad/s jump);
- with no velocities in /joint_states the plan assumed rest (25 rad/s² against 6 with the arm at 0.9 rad/s);
- streaming: with the arm not moving the target walked 0.4 rad away, every tick accepted;
- the e-stop subscription rejected volatile publishers; anyone could release it;
- ``set_parameters(dry_run)`` "succeeded" and the commander kept the old value.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from graph_probe import GraphProbe, wait_until
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from visuomotor.control import SafetyConfig
from visuomotor.control.trajectory import HermiteSegments, knots_with_start
from visuomotor.kinematics import UR10E_JOINT_NAMES, Ur10eKinematics
from visuomotor.sim import SimWorld
from visuomotor_interfaces.msg import ActionChunk, ActionStep
from visuomotor_ros.convert import duration_to_ns, joint_state_msg, matrix_to_pose, ns_to_duration
from visuomotor_ros.launcher import NodeProcess
from visuomotor_ros.qos import COMMAND, LATCHED, STATE

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
JTC = "/scaled_joint_trajectory_controller/joint_trajectory"
Q_HOME = np.array([-0.4, -2.2, 2.1, -1.47, -1.5708, 0.0])
KIN = Ur10eKinematics(T_flange_tcp=SimWorld.T_FLANGE_TCP)


class FakeArm:
    """/joint_states at 100 Hz from the test process: q(t) = q0 + v·t; modes ok | nan | off."""

    def __init__(self, probe: GraphProbe, q0: np.ndarray = Q_HOME) -> None:
        self.node = probe.node
        self.lock = threading.RLock()
        self.q0, self.v, self.t0 = q0.copy(), np.zeros(6), time.monotonic()
        self.mode = "ok"
        self.with_velocity = True
        self.pub = self.node.create_publisher(JointState, "/joint_states", STATE)
        self.node.create_timer(0.01, self._tick)

    def move(self, v: np.ndarray) -> None:
        with self.lock:
            self.q0, self.v, self.t0 = self.q(), np.asarray(v, dtype=float), time.monotonic()

    def q(self, at: float | None = None) -> np.ndarray:
        with self.lock:
            return self.q0 + self.v * ((time.monotonic() if at is None else at) - self.t0)

    def _tick(self) -> None:
        with self.lock:
            mode, with_v, v = self.mode, self.with_velocity, self.v.copy()
            q = self.q0 + self.v * (time.monotonic() - self.t0)
        if mode == "off":
            return
        if mode == "nan":
            q = np.full(6, np.nan)
        msg = joint_state_msg(UR10E_JOINT_NAMES, q, v, self.node.get_clock().now().nanoseconds)
        if not with_v:
            msg.velocity = []
        self.pub.publish(msg)


class Watch:
    """What the commander publishes, with the fake arm's true joints at receipt."""

    def __init__(self, probe: GraphProbe, arm: FakeArm) -> None:
        self.arm = arm
        self.lock = threading.Lock()
        self.commands: list[tuple[float, JointTrajectory]] = []  # (receipt time, command)
        self.targets: list[np.ndarray] = []
        self.rejections: list[str] = []
        self.estop: list[bool] = []
        node = probe.node
        node.create_subscription(JointTrajectory, JTC, self._on_command, COMMAND)
        node.create_subscription(
            Float64MultiArray, "/forward_position_controller/commands",
            lambda m: self._add(self.targets, np.array(m.data)), COMMAND,
        )
        on_rejection = lambda m: self._add(self.rejections, m.data)  # noqa: E731
        node.create_subscription(String, "/visuomotor/rejections", on_rejection, STATE)
        on_estop = lambda m: self._add(self.estop, m.data)  # noqa: E731
        node.create_subscription(Bool, "/visuomotor/estop_state", on_estop, LATCHED)
        self.chunk_pub = node.create_publisher(ActionChunk, "/visuomotor/action_chunk", STATE)

    def _add(self, where: list, item: object) -> None:
        with self.lock:
            where.append(item)

    def _on_command(self, msg: JointTrajectory) -> None:
        self._add(self.commands, (time.monotonic(), msg))

    def send_chunk(self, poses: list[np.ndarray]) -> None:
        msg = ActionChunk()
        msg.header.stamp = self.arm.node.get_clock().now().to_msg()
        msg.header.frame_id = "base_link"
        msg.step_period = ns_to_duration(100_000_000)
        msg.target_track_id = -1
        msg.steps = [ActionStep(tcp_pose=matrix_to_pose(T), gripper=0.0) for T in poses]
        self.chunk_pub.publish(msg)

    def n(self) -> tuple[int, int]:
        with self.lock:
            return len(self.commands), len(self.rejections)


def _start(
    launch: Callable[..., NodeProcess], probe: GraphProbe, **params: object
) -> tuple[NodeProcess, FakeArm, Watch]:
    proc = launch("commander", dict(params), params_files=[ROOT / "config" / "safety.yaml"])
    arm = FakeArm(probe)
    watch = Watch(probe, arm)
    probe.wait_for_subscribers("/visuomotor/action_chunk")
    probe.wait_for_subscribers("/joint_states")
    wait_until(lambda: watch.estop == [False], 20, "the latched e-stop state")
    return proc, arm, watch


def _trajectory(msg: JointTrajectory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.array([duration_to_ns(p.time_from_start) * 1e-9 for p in msg.points])
    return t, np.array([p.positions for p in msg.points]), np.array([p.velocities for p in msg.points])


def test_bad_joint_states_never_kill_the_commander_and_a_hold_without_trusted_joints_is_a_stop(
    probe: GraphProbe, launch: Callable[..., NodeProcess]
) -> None:
    proc, arm, watch = _start(launch, probe)
    T0 = KIN.forward(Q_HOME)
    pub = arm.pub
    # The probe that killed the commander: 6 names, 2 positions. Then more of the same family.
    bad = [JointState(name=list(UR10E_JOINT_NAMES), position=[0.1, 0.2])]
    bad.append(JointState(name=list(UR10E_JOINT_NAMES) * 2, position=[0.0] * 12))
    bad.append(JointState(name=list(UR10E_JOINT_NAMES), position=[float("nan")] * 6))
    bad.append(JointState(name=list(UR10E_JOINT_NAMES), position=[0.0] * 6, velocity=[1.0]))
    bad.append(JointState(name=["a", "b"], position=[1e308, -1e308]))
    bad.append(JointState())
    for msg in bad:
        pub.publish(msg)
    for _ in range(10):
        watch.send_chunk([T0] * 3)
        time.sleep(0.05)
    wait_until(lambda: watch.n()[0] > 0, 10, "commands after the malformed joint states")
    assert proc.alive(), proc.output()[-2000:]
    dropped = r"joint_states: dropped \(invalid_joint_state\): joint state has 2 positions for 6"
    assert re.search(dropped, proc.output())

    # NaN joint states (dropped) while chunks keep coming: first chunks still plan from the last good
    # joints, then the joints are stale → a STOP (empty trajectory), never a jump to a remembered target.
    n0, r0 = watch.n()
    with arm.lock:
        arm.mode = "nan"
    t_nan = time.monotonic()
    while time.monotonic() < t_nan + 1.0:
        watch.send_chunk([T0] * 3)
        time.sleep(0.05)
    assert "stale_joint_states" in watch.rejections[r0:]
    wait_until(lambda: any(not m.points for _, m in watch.commands[n0:]), 5, "the STOP")
    with watch.lock:
        after = [(t, m) for t, m in watch.commands[n0:] if t > t_nan + 0.35]
    assert after and all(not m.points for _, m in after[:1])
    vmax = SafetyConfig().velocity_limits_rad_s()
    with watch.lock:
        for _t, m in watch.commands:
            if m.points:  # every point starts near the TRUE arm: no jump anywhere
                t, q, _ = _trajectory(m)
                assert np.all(np.abs(q[0] - Q_HOME) <= vmax * t[0] + 1e-3)
    with arm.lock:
        arm.mode = "ok"
    assert proc.alive()
    assert proc.stop() == 0


def test_a_moving_arm_without_velocities_is_planned_from_the_estimated_velocity(
    probe: GraphProbe, launch: Callable[..., NodeProcess]
) -> None:
    """Probe: the plan assumed rest; with the arm at 0.9 rad/s an accepted plan needed 25 rad/s² (limit 6)."""
    proc, arm, watch = _start(launch, probe)
    with arm.lock:
        arm.with_velocity = False
    v = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.9])  # wrist 3 spinning at 0.9 rad/s: the TCP stays put
    arm.move(v)
    time.sleep(0.3)
    amax = SafetyConfig().acceleration_limits_rad_s2()
    checked = refused = 0
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        n0, _ = watch.n()
        T = KIN.forward(arm.q())  # "stop here": from 0.9 rad/s this needs a long, gentle deceleration
        watch.send_chunk([T] * 3)
        wait_until(lambda n0=n0: watch.n()[0] > n0, 5, "the answer to a chunk")
        with watch.lock:
            t_rx, msg = watch.commands[n0]
        if len(msg.points) > 1:  # accepted (a HOLD has one point or none)
            t, q, qd = _trajectory(msg)
            seg = HermiteSegments.build(*knots_with_start(arm.q(t_rx), t, q, qd, v))
            acc = seg.peak_acceleration()[0].max(axis=0)
            # The estimate lags by one sample; 10 % margin for it.
            assert np.all(acc <= amax * 1.1 + 0.2), (acc, amax)
            checked += 1
        else:
            refused += 1
        time.sleep(0.1)
    assert checked >= 1 and checked + refused >= 5 and proc.alive()
    assert "unknown_velocity" not in watch.rejections  # the estimate is there from the second sample on


def test_a_second_joint_state_publisher_never_takes_the_stream_while_the_driver_is_on_the_graph(
    probe: GraphProbe, launch: Callable[..., NodeProcess]
) -> None:
    """Found by the fault suite: the driver stalled 200 ms while a fuzzer streamed self-consistent joint
    states; the commander took them over and planned from them (14.7 rad/s² on the true arm, limit 6)."""
    proc, arm, watch = _start(launch, probe)

    def planned() -> bool:  # the commander plans from the driver's joints: the stream is the driver's
        n = watch.n()[0]
        watch.send_chunk([KIN.forward(Q_HOME)] * 3)
        wait_until(lambda: watch.n()[0] > n, 5, "the answer to a chunk")
        with watch.lock:
            return len(watch.commands[n][1].points) > 1

    wait_until(planned, 20, "a plan from the driver's joint states", period_s=0.1)
    q_fake = Q_HOME + np.array([0.5, 0.0, 0.0, 0.0, 0.0, 0.0])
    rogue = Node("rogue_driver", context=probe.context)
    pub = rogue.create_publisher(JointState, "/joint_states", STATE)
    probe.add_node(rogue)
    probe.wait_for_publishers("/joint_states", count=2)

    def stream_fakes(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            now = rogue.get_clock().now().nanoseconds
            pub.publish(joint_state_msg(UR10E_JOINT_NAMES, q_fake, np.zeros(6), now))
            watch.send_chunk([KIN.forward(q_fake)] * 3)  # "stay where the fake says you are"
            time.sleep(0.01)

    with arm.lock:
        arm.mode = "off"  # the driver stalls but stays on the graph
    n0, _ = watch.n()
    t_off = time.monotonic()
    stream_fakes(1.5)
    wait_until(lambda: watch.n()[0] > n0, 5, "the commander's answer to the chunks")
    vmax = SafetyConfig().velocity_limits_rad_s()
    with watch.lock:
        answered = watch.commands[n0:]
    for _, m in answered:  # plans while the driver's last state was fresh start at the TRUE arm
        if m.points:
            t, q, _ = _trajectory(m)
            assert np.all(np.abs(q[0] - Q_HOME) <= vmax * t[0] + 1e-3), q[0]
    # Once the driver's state is stale every answer is a STOP: nothing planned from the fake state.
    late = [m for t_rx, m in answered if t_rx > t_off + 0.5]
    assert late and all(not m.points for m in late), [len(m.points) for m in late]
    assert "dropped (foreign_joint_state)" in proc.output()

    # The driver is back: its own stream resumes (the fakes interleaving are still dropped).
    with arm.lock:
        arm.mode = "ok"
    time.sleep(0.3)
    n1, _ = watch.n()
    watch.send_chunk([KIN.forward(Q_HOME)] * 3)
    wait_until(lambda: watch.n()[0] > n1, 5, "a plan from the driver's joints")
    with watch.lock:
        t, q, _ = _trajectory(watch.commands[n1][1])
    assert len(t) > 1 and np.abs(q[0] - Q_HOME).max() < 0.05

    # The driver leaves the graph: the other publisher may start a new stream.
    with arm.lock:
        arm.mode = "off"  # (its timer must not publish on a destroyed publisher)
    arm.node.destroy_publisher(arm.pub)
    stream_fakes(2.0)
    assert re.search(r"/\S+ left the graph; /rogue_driver may take over", proc.output())
    n2, _ = watch.n()
    watch.send_chunk([KIN.forward(q_fake)] * 3)
    wait_until(lambda: watch.n()[0] > n2, 5, "a plan from the new publisher's joints")
    with watch.lock:
        t, q, _ = _trajectory(watch.commands[n2][1])
    assert len(t) > 1 and np.abs(q[0] - q_fake).max() < 0.05
    assert proc.alive() and proc.stop() == 0


def test_estop_from_any_publisher_explicit_release_and_read_only_parameters(
    probe: GraphProbe, launch: Callable[..., NodeProcess]
) -> None:
    proc, _, watch = _start(launch, probe)
    node = probe.node
    T0 = KIN.forward(Q_HOME)
    # A plain volatile publisher (ros2 topic pub, Foxglove): the old latched-only subscription ignored it.
    volatile = node.create_publisher(Bool, "/visuomotor/estop", STATE)
    best_effort = node.create_publisher(
        Bool, "/visuomotor/estop",
        QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE),
    )
    wait_until(lambda: node.count_subscribers("/visuomotor/estop") >= 3, 10, "the e-stop subscriptions")
    _, r0 = watch.n()
    volatile.publish(Bool(data=True))
    wait_until(lambda: watch.estop[-1] is True, 5, "the e-stop engaged by a volatile publisher")
    wait_until(lambda: "estop" in watch.rejections[r0:], 5, "the e-stop HOLD")
    assert f"E-STOP ENGAGED by topic /visuomotor/estop from /{node.get_name()}" in proc.output()
    n1, _ = watch.n()
    for _ in range(5):
        watch.send_chunk([T0] * 3)
        time.sleep(0.05)
    time.sleep(0.3)
    with watch.lock:
        assert all(len(m.points) <= 1 for _, m in watch.commands[n1:])  # holds only
    volatile.publish(Bool(data=False))  # a fresh, explicit false releases
    wait_until(lambda: watch.estop[-1] is False, 5, "the release")
    best_effort.publish(Bool(data=True))
    wait_until(lambda: watch.estop[-1] is True, 5, "the e-stop engaged by a best-effort publisher")

    # The reset service releases, and the log names the caller.
    client = node.create_client(Trigger, "/visuomotor/estop/reset")
    assert client.wait_for_service(timeout_sec=10)
    result = client.call_async(Trigger.Request())
    wait_until(result.done, 10, "the reset service")
    assert result.result().success
    wait_until(lambda: watch.estop[-1] is False, 5, "the release by the service")
    released = rf"RELEASED by service /visuomotor/estop/reset \(caller [^)]*{node.get_name()}"
    assert re.search(released, proc.output())
    engage = node.create_client(Trigger, "/visuomotor/estop/engage")
    assert engage.wait_for_service(timeout_sec=10)
    result = engage.call_async(Trigger.Request())
    wait_until(result.done, 10, "the engage service")
    wait_until(lambda: watch.estop[-1] is True, 5, "the e-stop engaged by the service")

    # Safety parameters are read-only at run time: refused, and the value in force reads back.
    setp = node.create_client(SetParameters, "/commander/set_parameters")
    getp = node.create_client(GetParameters, "/commander/get_parameters")
    assert setp.wait_for_service(timeout_sec=10) and getp.wait_for_service(timeout_sec=10)
    for name, value in (("dry_run", ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=True)),
                        ("perception_timeout_s",
                         ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=1.5))):
        future = setp.call_async(SetParameters.Request(parameters=[Parameter(name=name, value=value)]))
        wait_until(future.done, 10, f"set_parameters {name}")
        answer = future.result().results[0]
        assert not answer.successful and "read-only" in answer.reason
    future = getp.call_async(GetParameters.Request(names=["dry_run", "perception_timeout_s"]))
    wait_until(future.done, 10, "get_parameters")
    values = future.result().values
    assert values[0].bool_value is False and values[1].double_value == pytest.approx(0.3)
    assert proc.alive()


def test_a_release_published_before_the_estop_engaged_does_not_release_it(probe: GraphProbe) -> None:
    """A latched or delayed ``false`` (source stamp before the engagement) must not release the e-stop."""
    from visuomotor_ros.commander_node import CommanderNode

    node = CommanderNode(context=probe.context)
    try:
        node._engage("test")
        stale = {"source_timestamp": node._estop_since_wall_ns - 1, "publisher_gid": None,
                 "publication_sequence_number": None}
        node._on_estop(Bool(data=False), stale)
        assert node.estopped
        fresh = {**stale, "source_timestamp": time.time_ns()}
        node._on_estop(Bool(data=False), fresh)
        assert not node.estopped
    finally:
        node.destroy_node()


def test_streaming_target_never_runs_away_from_the_measured_arm(
    probe: GraphProbe, launch: Callable[..., NodeProcess]
) -> None:
    """Probe: with the arm not moving, the streamed target walked 0.4 rad away and every tick was accepted."""
    limit = 0.05
    proc, _, watch = _start(launch, probe, mode="streaming", streaming_rate_hz=50.0,
                            max_tracking_error_rad=limit, perception_timeout_s=1.0)
    # A base swing at 1 rad/s that the (fake, blocked) arm never follows. Each chunk is planned from the
    # measured joints, so the target can only run away between chunks: send one every 0.5 s.
    chunk = [KIN.forward(Q_HOME + np.array([0.1 * (i + 1), 0, 0, 0, 0, 0])) for i in range(6)]
    end = time.monotonic() + 5.0
    while time.monotonic() < end and "tracking_error" not in watch.rejections:
        watch.send_chunk(chunk)
        time.sleep(0.5)
    assert "tracking_error" in watch.rejections
    with watch.lock:
        targets = np.array(watch.targets)
    assert len(targets) > 5
    assert np.abs(targets - Q_HOME).max() <= limit + 1e-9  # never further than the limit from the arm
    assert proc.alive()
