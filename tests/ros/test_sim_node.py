"""The sim node in its own process on a real DDS graph: camera stream, commands, bad input."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from graph_probe import GraphProbe, wait_until
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, Int64
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from visuomotor.kinematics import UR10E_JOINT_NAMES, Ur10eKinematics
from visuomotor_interfaces.msg import FrameTrail, SimGroundTruth
from visuomotor_ros.convert import image_array, ns_to_stamp, stamp_to_ns
from visuomotor_ros.launcher import NodeProcess
from visuomotor_ros.qos import COMMAND, SENSOR, STATE

pytestmark = [pytest.mark.ros, pytest.mark.slow]

COLOR = "/camera/camera/color/image_raw"
DEPTH = "/camera/camera/aligned_depth_to_color/image_raw"
INFO = "/camera/camera/color/camera_info"
JTC = "/scaled_joint_trajectory_controller/joint_trajectory"
TRAIL = "/sim/frame_trail"


class Collector:
    """Stamps (and optionally the last message) per topic, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stamps: dict[str, list[int]] = {}
        self.last: dict[str, object] = {}

    def callback(self, topic: str) -> Callable[[object], None]:
        self.stamps[topic] = []

        def on_msg(msg: object) -> None:
            with self.lock:
                self.stamps[topic].append(stamp_to_ns(msg.header.stamp))  # type: ignore[attr-defined]
                self.last[topic] = msg

        return on_msg

    def count(self, topic: str) -> int:
        with self.lock:
            return len(self.stamps[topic])


def test_camera_stream_cross_process_300_frames(
    probe: GraphProbe, launch: Callable[..., NodeProcess]
) -> None:
    sim = launch("sim", {"clock_mode": "realtime"})
    got = Collector()
    for topic, kind in ((COLOR, Image), (DEPTH, Image), (INFO, CameraInfo), (TRAIL, FrameTrail)):
        probe.node.create_subscription(kind, topic, got.callback(topic), STATE if topic == TRAIL else SENSOR)
    probe.wait_for_publishers(COLOR)
    # The sim's own trail (reliable) lists every frame it published: the reference for drops. Count over
    # 300 consecutive published frames that start after every subscription has matched.
    wait_until(lambda: min(got.count(t) for t in (COLOR, DEPTH, INFO, TRAIL)) >= 5, 30, "the first frames")
    with got.lock:
        first = max(got.stamps[t][-1] for t in (COLOR, DEPTH, INFO, TRAIL))
    t0 = time.monotonic()

    def published_after_first() -> list[int]:
        with got.lock:
            return [s for s in got.stamps[TRAIL] if s > first]

    wait_until(lambda: len(published_after_first()) >= 305, 40, "305 published frames")
    wall_s = time.monotonic() - t0
    assert sim.alive(), sim.output()
    published = published_after_first()[:300]
    window = set(published)
    sim_span_s = (published[-1] - published[0]) * 1e-9
    assert 299 / 30.5 < sim_span_s < 299 / 29.5  # 30 Hz in sim time
    with got.lock:
        received = {t: [s for s in got.stamps[t] if s in window] for t in (COLOR, DEPTH, INFO)}
    for topic, stamps in received.items():
        assert len(stamps) >= 299, f"{topic}: {len(stamps)}/300 frames received"
        assert len(set(stamps)) == len(stamps), f"{topic}: duplicate stamps"
    # Colour, depth and camera_info of one frame share one stamp.
    common = set(received[COLOR]) & set(received[DEPTH]) & set(received[INFO])
    assert len(common) >= 298
    # Realtime mode: 300 frames of sim time took about 10 s of wall time.
    assert 8.0 < wall_s < 14.0

    with got.lock:
        color, depth = got.last[COLOR], got.last[DEPTH]
    rgb, depth_mm = image_array(color), image_array(depth)  # type: ignore[arg-type]
    assert rgb.shape == (480, 640, 3) and color.encoding == "rgb8"  # type: ignore[attr-defined]
    assert depth_mm.dtype == np.uint16 and depth.encoding == "16UC1"  # type: ignore[attr-defined]
    valid = depth_mm[depth_mm > 0]
    assert valid.size > 0.5 * depth_mm.size and 300 < np.median(valid) < 4000  # a table 0.5–4 m away


def _joint_positions(msg: JointState) -> np.ndarray:
    index = {n: i for i, n in enumerate(msg.name)}
    return np.array([msg.position[index[n]] for n in UR10E_JOINT_NAMES])


def _trajectory(names: list[str], points: list[tuple[list[float], float]]) -> JointTrajectory:
    msg = JointTrajectory(joint_names=names)
    for q, t in points:
        sec = int(t)
        msg.points.append(
            JointTrajectoryPoint(positions=q, time_from_start=Duration(sec=sec, nanosec=int((t - sec) * 1e9)))
        )
    return msg


def test_trajectory_reaches_pose_and_bad_commands_hold(
    probe: GraphProbe, launch: Callable[..., NodeProcess]
) -> None:
    sim = launch("sim", {"clock_mode": "realtime"})
    joints = Collector()
    probe.node.create_subscription(JointState, "/joint_states", joints.callback("/joint_states"), STATE)
    truth = Collector()
    probe.node.create_subscription(SimGroundTruth, "/sim/ground_truth", truth.callback("truth"), STATE)
    pub = probe.node.create_publisher(JointTrajectory, JTC, COMMAND)
    fwd = probe.node.create_publisher(Float64MultiArray, "/forward_position_controller/commands", COMMAND)
    probe.wait_for_subscribers(JTC)
    wait_until(lambda: joints.count("/joint_states") > 10 and truth.count("truth") > 0, 30, "joint states")

    def q_now() -> np.ndarray:
        with joints.lock:
            return _joint_positions(joints.last["/joint_states"])  # type: ignore[arg-type]

    # A target pose in base_link, solved with the analytic IK nearest the current joints.
    kin = Ur10eKinematics()
    q0 = q_now()
    T_goal = kin.forward(q0)
    T_goal[:3, 3] += [0.10, -0.05, 0.08]
    q_goal = kin.nearest(T_goal, q0)
    pub.publish(_trajectory(list(UR10E_JOINT_NAMES), [(list(q_goal), 1.5)]))
    wait_until(lambda: np.max(np.abs(q_now() - q_goal)) < 1e-3, 20, "the arm to reach the target (1 mrad)")
    time.sleep(0.5)  # settle, then hold within 1 mrad
    assert np.max(np.abs(q_now() - q_goal)) < 1e-3
    np.testing.assert_allclose(kin.forward(q_now())[:3, 3], T_goal[:3, 3], atol=2e-3)

    # Bad commands: each is rejected with a logged reason, and the arm holds where it is.
    held = q_now()
    bad = [
        _trajectory(["joint_a", *UR10E_JOINT_NAMES[1:]], [(list(held), 1.0)]),        # unknown name
        _trajectory(list(UR10E_JOINT_NAMES), [([*list(held[:5]), float("nan")], 1.0)]),  # NaN
        _trajectory(list(UR10E_JOINT_NAMES), [(list(held + 0.2), 2.0), (list(held), 1.0)]),  # times go back
        _trajectory(list(UR10E_JOINT_NAMES), [(list(held[:4]), 1.0)]),                  # too few positions
        _trajectory(list(UR10E_JOINT_NAMES), []),                                        # no points
    ]
    for msg in bad:
        pub.publish(msg)
    fwd.publish(Float64MultiArray(data=[0.0, 1.0]))
    fwd.publish(Float64MultiArray(data=[float("inf")] * 6))
    wait_until(lambda: sim.output().count("rejected") >= 7, 10, "7 logged rejections")
    time.sleep(1.0)
    assert sim.alive()
    assert np.max(np.abs(q_now() - held)) < 1e-3
    log = sim.output()
    for reason in ("unknown ['joint_a']", "NaN or inf", "increase strictly", "4 positions", "no points",
                   "needs 6 values"):
        assert reason in log, f"no rejection mentioning {reason!r} in:\n{log}"


def test_a_command_published_before_a_reset_never_moves_the_reset_arm(
    probe: GraphProbe, launch: Callable[..., NodeProcess]
) -> None:
    """Found by the 30-minute soak: a trajectory in flight across a scene reset (planned for the arm
    before the reset teleported it home) started from home and whipped a wrist to 3 rad/s."""
    sim = launch("sim", {"clock_mode": "realtime"})
    joints = Collector()
    probe.node.create_subscription(JointState, "/joint_states", joints.callback("/joint_states"), STATE)
    pub = probe.node.create_publisher(JointTrajectory, JTC, COMMAND)
    reset = probe.node.create_publisher(Int64, "/sim/reset", COMMAND)
    probe.wait_for_subscribers(JTC)
    probe.wait_for_subscribers("/sim/reset")
    wait_until(lambda: joints.count("/joint_states") > 10, 30, "joint states")

    def q_now() -> np.ndarray:
        with joints.lock:
            return _joint_positions(joints.last["/joint_states"])  # type: ignore[arg-type]

    home = q_now()
    far = home + np.array([0.6, -0.3, 0.3, 0.4, 0.0, 0.8])
    for seed in range(3):
        # Planned for the arm before the reset, published while the reset is on its way.
        reset.publish(Int64(data=seed))
        pub.publish(_trajectory(list(UR10E_JOINT_NAMES), [(list(far), 0.3)]))
        wait_until(lambda seed=seed: f"scene reset (seed {seed})" in sim.output(), 10, "the reset")
        time.sleep(0.6)
        assert np.max(np.abs(q_now() - home)) < 1e-2, (seed, q_now() - home)
    assert sim.alive()


def test_lockstep_waits_for_each_frame_and_reset_is_seeded(
    probe: GraphProbe, launch: Callable[..., NodeProcess]
) -> None:
    """Lockstep: one camera period of sim time per acknowledged frame, however slow the consumer."""
    sim = launch("sim", {"clock_mode": "lockstep", "lockstep_timeout_s": 5.0})
    ack = probe.node.create_publisher(FrameTrail, "/visuomotor/frame_trail", STATE)
    reset = probe.node.create_publisher(Int64, "/sim/reset", COMMAND)
    frames = Collector()
    probe.node.create_subscription(FrameTrail, TRAIL, frames.callback(TRAIL), STATE)
    truth = Collector()
    probe.node.create_subscription(SimGroundTruth, "/sim/ground_truth", truth.callback("truth"), STATE)
    probe.wait_for_subscribers("/visuomotor/frame_trail")
    probe.wait_for_publishers(TRAIL)

    def ack_latest() -> int:
        with frames.lock:
            stamp = frames.stamps[TRAIL][-1]
        msg = FrameTrail()
        msg.header.stamp = ns_to_stamp(stamp)
        ack.publish(msg)
        return stamp

    wait_until(lambda: frames.count(TRAIL) > 0, 20, "the first frame")
    # A slow consumer: acknowledge a frame every 0.15 s of wall time; the sim must not run ahead.
    stamps = []
    t0 = time.monotonic()
    for _ in range(10):
        stamps.append(ack_latest())
        time.sleep(0.15)
    wall_s = time.monotonic() - t0
    with frames.lock:
        published = list(frames.stamps[TRAIL])
    assert len(published) <= 12, f"{len(published)} frames for 10 acks: lockstep did not wait"
    assert len(set(stamps)) >= 9, "acks did not release new frames"
    steps = np.diff(sorted(set(stamps)))
    assert np.all(np.abs(steps - 1e9 / 30) < 2.5e6)  # one camera period of sim time per ack
    assert (stamps[-1] - stamps[0]) * 1e-9 < 0.5 * wall_s  # sim time ran slower than the wall clock

    # Reset to a seeded scene: the ground truth equals the core world's scene for that seed.
    from visuomotor.sim import SimWorld

    with SimWorld() as world:
        world.reset(5)
        expected = {o.name: o.position_m for o in world.objects()}
    reset.publish(Int64(data=5))
    stamp_reset = ack_latest()

    def matches() -> bool:
        ack_latest()
        with truth.lock:
            msg = truth.last.get("truth")
        if msg is None or stamp_to_ns(msg.header.stamp) <= stamp_reset:  # type: ignore[attr-defined]
            return False
        got = {o.name: (o.pose.position.x, o.pose.position.y) for o in msg.objects}  # type: ignore[attr-defined]
        return all(abs(got[n][0] - p[0]) < 2e-3 and abs(got[n][1] - p[1]) < 2e-3 for n, p in expected.items()
                   if n in got) and set(expected) <= set(got)

    wait_until(matches, 20, "the ground truth of the seed-5 scene", period_s=0.1)
    assert "scene reset (seed 5)" in sim.output()
