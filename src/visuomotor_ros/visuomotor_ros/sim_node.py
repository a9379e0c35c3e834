"""sim: the MuJoCo UR10e world on the ROS graph, a drop-in for realsense2_camera + ur_robot_driver.

Publishes colour, aligned depth (16UC1 mm) and camera_info with one stamp per frame, ``/joint_states``,
``/clock``, ``/sim/ground_truth`` (same stamp as the frame) and ``/sim/frame_trail`` (render + encode
timings of each frame, for the latency monitor). Obeys the scaled JTC topic (JointTrajectory), the
forward-position topic and the gripper topic; a rejected command is logged with its reason and the arm holds.
With a conveyor (``conveyor.speed_m_s`` > 0) and ``conveyor_start: on_request`` the belt stands still until
a speed (``std_msgs/Float64``, m/s) arrives on ``/sim/conveyor_speed`` (latched).
A ``JointTrajectory`` with the arm's joint names and no points is the JTC's stop (ros2_controllers'
``set_hold_position``): the arm holds where it is now. No message ends the node: its callbacks are guarded.

All stamps are sim time (like Gazebo): run consumers with ``use_sim_time:=true`` to share the clock.
Modes: ``realtime`` paces sim time to the wall clock; ``lockstep`` advances one camera period per frame
and, when someone publishes on the ack topic, waits for that frame's ack (or a timeout) before the next.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import transforms3d
from geometry_msgs.msg import Vector3
from rclpy.node import Node
from rclpy.subscription import MessageInfo
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64, Float64MultiArray, Int64
from trajectory_msgs.msg import JointTrajectory

from visuomotor.errors import ConfigError, TrajectoryRejected, VisuomotorError
from visuomotor.kinematics import UR10E_JOINT_NAMES
from visuomotor.latency import FrameTrail, StageTimer
from visuomotor.sim import JointTrajectoryCommand, SimConfig, SimWorld
from visuomotor_interfaces.msg import FrameTrail as FrameTrailMsg
from visuomotor_interfaces.msg import SimGroundTruth, SimObject
from visuomotor_ros.convert import (
    duration_to_ns,
    intrinsics_to_camera_info,
    joint_state_msg,
    matrix_to_pose,
    ns_to_stamp,
    numpy_to_image,
    stamp_to_ns,
    trail_to_msg,
)
from visuomotor_ros.guard import CallbackGuard
from visuomotor_ros.params import declare_flat, reject_unknown_parameters, require_range
from visuomotor_ros.qos import CLOCK, COMMAND, LATCHED, SENSOR, STATE
from visuomotor_ros.runner import run_node

__all__ = ["GRIPPER_JOINT", "SimNode", "main", "trajectory_from_msg"]

GRIPPER_JOINT = "gripper_joint"  # reported in /joint_states as closure 0 (open) … 1 (closed)

NODE_DEFAULTS: dict[str, Any] = {
    "topics.color": "/camera/camera/color/image_raw",
    "topics.color_info": "/camera/camera/color/camera_info",
    "topics.depth": "/camera/camera/aligned_depth_to_color/image_raw",
    "topics.depth_info": "/camera/camera/aligned_depth_to_color/camera_info",
    "topics.joint_states": "/joint_states",
    "topics.trajectory": "/scaled_joint_trajectory_controller/joint_trajectory",
    "topics.forward": "/forward_position_controller/commands",
    "topics.gripper": "/gripper_controller/commands",
    "topics.ground_truth": "/sim/ground_truth",
    "topics.frame_trail": "/sim/frame_trail",
    "topics.reset": "/sim/reset",
    "topics.conveyor_speed": "/sim/conveyor_speed",
    "topics.lockstep_ack": "/visuomotor/frame_trail",
    "frames.base": "base_link",
    "frames.camera": "camera_color_optical_frame",
    "color_encoding": "rgb8",
    "joint_state_rate_hz": 100.0,
    "clock_rate_hz": 250.0,
    "lockstep_timeout_s": 1.0,
    "max_frames": 0,
    # A conveyor (conveyor.speed_m_s > 0) runs from the start ("immediately"), or stands still until a
    # speed arrives on topics.conveyor_speed ("on_request": the line starts when the cell says it is ready).
    "conveyor_start": "immediately",
}


def trajectory_from_msg(msg: JointTrajectory) -> JointTrajectoryCommand:
    """JointTrajectory → core command (validation of names, times and values happens in the core)."""
    n = len(msg.points)
    positions = np.full((n, len(msg.joint_names)), np.nan)
    has_vel = n > 0 and all(len(p.velocities) == len(msg.joint_names) for p in msg.points)
    velocities = np.zeros_like(positions) if has_vel else None
    times = np.empty(n)
    for i, point in enumerate(msg.points):
        if len(point.positions) != len(msg.joint_names):
            raise TrajectoryRejected(
                f"point {i} has {len(point.positions)} positions for {len(msg.joint_names)} joint names"
            )
        positions[i] = point.positions
        if velocities is not None:
            velocities[i] = point.velocities
        times[i] = duration_to_ns(point.time_from_start) * 1e-9
    return JointTrajectoryCommand(
        joint_names=tuple(msg.joint_names), times_s=times, positions=positions, velocities=velocities
    )


class SimNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("sim", **kwargs)
        sim_defaults = SimConfig().to_flat_dict()
        sim_values = declare_flat(self, sim_defaults)
        p = declare_flat(self, NODE_DEFAULTS)
        reject_unknown_parameters(self)
        if p["color_encoding"] not in ("rgb8", "bgr8"):
            raise ConfigError(f"color_encoding must be rgb8 or bgr8, got {p['color_encoding']!r}")
        require_range("joint_state_rate_hz", p["joint_state_rate_hz"], 1.0, 1000.0, "Hz")
        require_range("clock_rate_hz", p["clock_rate_hz"], 1.0, 10000.0, "Hz")
        require_range("lockstep_timeout_s", p["lockstep_timeout_s"], 0.001, 60.0, "s")
        self._p = p
        self._config = SimConfig.from_flat(sim_values)
        self._world = SimWorld(self._config)
        self._world.reset(self._config.seed)
        if p["conveyor_start"] not in ("immediately", "on_request"):
            raise ConfigError(
                f"conveyor_start must be immediately or on_request, got {p['conveyor_start']!r}"
            )
        if self._config.conveyor.enabled and p["conveyor_start"] == "on_request":
            self._world.set_conveyor_speed(0.0)
        self._last_seed = self._config.seed
        self._reset_wall_ns = 0  # system time of the last scene reset
        self._lock = threading.Lock()  # guards the world: commands arrive on the executor thread
        self._stop = threading.Event()
        self._ack_stamp_ns = -1
        self._ack = threading.Condition()
        self.frames_published = 0
        self.rejected = 0

        self._pub_color = self.create_publisher(Image, p["topics.color"], SENSOR)
        self._pub_color_info = self.create_publisher(CameraInfo, p["topics.color_info"], SENSOR)
        self._pub_depth = self.create_publisher(Image, p["topics.depth"], SENSOR)
        self._pub_depth_info = self.create_publisher(CameraInfo, p["topics.depth_info"], SENSOR)
        self._pub_joints = self.create_publisher(JointState, p["topics.joint_states"], STATE)
        self._pub_clock = self.create_publisher(Clock, "/clock", CLOCK)
        self._pub_truth = self.create_publisher(SimGroundTruth, p["topics.ground_truth"], STATE)
        self._pub_trail = self.create_publisher(FrameTrailMsg, p["topics.frame_trail"], STATE)
        g = self._guard = CallbackGuard(self)
        self.create_subscription(
            JointTrajectory, p["topics.trajectory"], g.wrap("trajectory", self._on_trajectory), COMMAND
        )
        self.create_subscription(
            Float64MultiArray, p["topics.forward"], g.wrap("forward", self._on_forward), COMMAND
        )
        self.create_subscription(
            Float64MultiArray, p["topics.gripper"], g.wrap("gripper", self._on_gripper), COMMAND
        )
        self.create_subscription(Int64, p["topics.reset"], g.wrap("reset", self._on_reset), COMMAND)
        if self._config.conveyor.enabled:
            self.create_subscription(
                Float64, p["topics.conveyor_speed"], g.wrap("conveyor_speed", self._on_conveyor_speed),
                LATCHED,
            )
        if p["topics.lockstep_ack"]:
            self.create_subscription(
                FrameTrailMsg, p["topics.lockstep_ack"], g.wrap("lockstep_ack", self._on_ack), STATE
            )

        self._thread = threading.Thread(target=self._loop, name="sim-loop", daemon=True)
        self._thread.start()
        self.get_logger().info(
            f"sim up: {self._config.clock_mode} mode, camera {self._config.publish_rate_hz:.0f} Hz "
            f"{self._world.intrinsics.width_px}×{self._world.intrinsics.height_px}, seed {self._config.seed}"
        )

    # ------------------------------------------------------------------ commands (executor thread)
    def _reject(self, what: str, err: Exception) -> None:
        self.rejected += 1
        self.get_logger().warning(f"rejected {what}: {err} — the arm holds its last target")

    def _in_flight_across_a_reset(self, info: MessageInfo, what: str) -> bool:
        """A command published before the last scene reset was planned for the arm before the reset
        teleported it home: started from home it would whip the arm (the 30-minute soak measured 3 rad/s
        on a wrist right after resets). No robot teleports; the sim drops it."""
        sent = int(info.get("source_timestamp") or 0)
        if 0 < sent < self._reset_wall_ns:
            self.get_logger().warning(f"dropped a {what} published before the scene reset (planned for "
                                      "the arm before it was reset)", throttle_duration_sec=1.0)
            return True
        return False

    def _on_trajectory(self, msg: JointTrajectory, info: MessageInfo) -> None:
        if self._in_flight_across_a_reset(info, "joint trajectory"):
            return
        if not msg.points and sorted(msg.joint_names) == sorted(UR10E_JOINT_NAMES):
            # The JTC's stop: hold the arm where it is now (the measured joints, not the last target).
            with self._lock:
                self._world.set_arm_targets(self._world.joint_positions())
            self.get_logger().warning(
                "rejected joint trajectory with no points as a motion: it is the JTC's stop — the arm holds "
                "where it is now"
            )
            return
        try:
            cmd = trajectory_from_msg(msg)
            with self._lock:
                self._world.follow_trajectory(cmd)
        except VisuomotorError as err:
            self._reject("joint trajectory", err)

    def _on_forward(self, msg: Float64MultiArray, info: MessageInfo) -> None:
        if self._in_flight_across_a_reset(info, "forward position command"):
            return
        try:
            q = np.asarray(msg.data, dtype=float)
            if q.shape != (len(UR10E_JOINT_NAMES),):
                raise ConfigError(
                    f"forward position command needs {len(UR10E_JOINT_NAMES)} values "
                    f"({', '.join(UR10E_JOINT_NAMES)}), got {q.size}"
                )
            with self._lock:
                self._world.set_arm_targets(q)
        except (VisuomotorError, ValueError) as err:
            self._reject("forward position command", err)

    def _on_gripper(self, msg: Float64MultiArray) -> None:
        try:
            if len(msg.data) != 1:
                raise ConfigError(f"gripper command needs 1 value (0 open … 1 closed), got {len(msg.data)}")
            with self._lock:
                self._world.set_gripper(float(msg.data[0]))
        except (VisuomotorError, ValueError) as err:
            self._reject("gripper command", err)

    def _on_reset(self, msg: Int64) -> None:
        # A negative seed asks for a new scene: the next seed after the last one used.
        seed = self._last_seed + 1 if msg.data < 0 else int(msg.data)
        if seed >= 2**32:
            raise ConfigError(f"reset seed must be < 2**32, got {seed}")
        with self._lock:
            self._world.reset(seed)
            self._reset_wall_ns = time.time_ns()
        self._last_seed = seed
        self.get_logger().info(f"scene reset (seed {seed})")

    def _on_conveyor_speed(self, msg: Float64) -> None:
        try:
            with self._lock:
                self._world.set_conveyor_speed(msg.data)
        except ValueError as err:
            self._reject("conveyor speed", err)
            return
        self.get_logger().info(f"conveyor at {msg.data:.3f} m/s")

    def _on_ack(self, msg: FrameTrailMsg) -> None:
        with self._ack:
            self._ack_stamp_ns = max(self._ack_stamp_ns, stamp_to_ns(msg.header.stamp))
            self._ack.notify_all()

    # ------------------------------------------------------------------ the loop (own thread)
    def _loop(self) -> None:
        try:
            self._run()
        except Exception as err:  # the loop must not die silently: say why and stop the process
            if self._stop.is_set() or not self.context.ok():
                return  # Ctrl-C shut the context down under a publish: a normal stop, not a failure
            self.get_logger().fatal(f"sim loop stopped: {err!r}")
            raise

    def _run(self) -> None:
        p = self._p
        dt = self._world.model.opt.timestep
        # Events are scheduled in sim time, not in whole steps, so 30 Hz stays 30 Hz on a 2 ms grid
        # (frames land on the first step at or after each k/30 s; stamps are that step's sim time).
        frame_period = 1.0 / self._config.publish_rate_hz
        joint_period = 1.0 / p["joint_state_rate_hz"]
        clock_period = 1.0 / p["clock_rate_hz"]
        realtime = self._config.clock_mode == "realtime"
        wall0, sim0 = time.monotonic(), self._world.time_s
        next_frame = sim0 + frame_period
        next_joint = next_clock = sim0
        self._publish_frame()
        now_s = sim0
        while not self._stop.is_set():
            with self._lock:
                # A reset rewinds sim time (to 0, usually also where the loop started): compare with the
                # last step, not the start, or the schedule would wait for the old time to come round.
                if self._world.time_s < now_s:
                    sim0 = self._world.time_s
                    wall0, next_frame, next_joint, next_clock = time.monotonic(), sim0, sim0, sim0
                self._world.step()
                now_s = self._world.time_s
            if now_s >= next_clock - 1e-9:
                next_clock += clock_period
                self._pub_clock.publish(Clock(clock=ns_to_stamp(round(now_s * 1e9))))
            if now_s >= next_joint - 1e-9:
                next_joint += joint_period
                self._publish_joints()
            if now_s >= next_frame - dt / 2:
                next_frame += frame_period
                if realtime:
                    # Sleep until the wall clock catches up with sim time, then render "now".
                    ahead = (now_s - sim0) - (time.monotonic() - wall0)
                    if ahead > 0:
                        self._stop.wait(ahead)
                stamp_ns = self._publish_frame()
                if not realtime:
                    self._wait_for_ack(stamp_ns)
                if p["max_frames"] and self.frames_published >= p["max_frames"]:
                    self.get_logger().info(f"published {self.frames_published} frames, stopping the loop")
                    return

    def _wait_for_ack(self, stamp_ns: int) -> None:
        if not self._p["topics.lockstep_ack"] or self.count_publishers(self._p["topics.lockstep_ack"]) == 0:
            return
        with self._ack:
            self._ack.wait_for(
                lambda: self._ack_stamp_ns >= stamp_ns or self._stop.is_set(), self._p["lockstep_timeout_s"]
            )

    def _publish_joints(self) -> None:
        with self._lock:
            q = self._world.joint_positions()
            dq = self._world.joint_velocities()
            g = self._world.gripper_closure()
            stamp_ns = round(self._world.time_s * 1e9)
        names = (*UR10E_JOINT_NAMES, GRIPPER_JOINT)
        self._pub_joints.publish(joint_state_msg(names, np.append(q, g), np.append(dq, 0.0), stamp_ns))

    def _publish_frame(self) -> int:
        p = self._p
        with StageTimer("render") as render, self._lock:
            frame = self._world.render()
            stamp_ns = round(self._world.time_s * 1e9)
            objects = self._world.objects()
            tcp = self._world.tcp_pose()
        # The sim's last stage ends before the first publish(), so the hop to a consumer is the whole
        # transport (publish call, middleware, executor dispatch), and stages chain without overlap.
        with StageTimer("encode") as encode:
            cam = p["frames.camera"]
            rgb = frame.rgb if p["color_encoding"] == "rgb8" else frame.rgb[:, :, ::-1]
            info = intrinsics_to_camera_info(self._world.intrinsics, stamp_ns, cam)
            color_msg = numpy_to_image(rgb, p["color_encoding"], stamp_ns, cam)
            depth_msg = numpy_to_image(frame.depth_mm, "16UC1", stamp_ns, cam)
        self._pub_color.publish(color_msg)
        self._pub_depth.publish(depth_msg)
        self._pub_color_info.publish(info)
        self._pub_depth_info.publish(info)
        truth = SimGroundTruth()
        truth.header.stamp = ns_to_stamp(stamp_ns)
        truth.header.frame_id = p["frames.base"]
        truth.objects = [self._object_msg(o) for o in objects]
        truth.camera_pose = matrix_to_pose(self._world.T_base_link_camera)
        truth.tcp_pose = matrix_to_pose(tcp)
        self._pub_truth.publish(truth)
        self._pub_trail.publish(trail_to_msg(FrameTrail(stamp_ns, (render.timing, encode.timing)), cam))
        self.frames_published += 1
        return stamp_ns

    @staticmethod
    def _object_msg(obj: Any) -> SimObject:
        T = np.eye(4)
        T[:3, :3] = transforms3d.quaternions.quat2mat(obj.quat_wxyz)
        T[:3, 3] = obj.position_m
        ex, ey, ez = (float(v) for v in obj.extent_m)
        return SimObject(
            name=obj.name, class_name=obj.class_name, pose=matrix_to_pose(T), size_m=float(obj.size_m),
            extent=Vector3(x=ex, y=ey, z=ez),
        )

    def close(self) -> None:
        self._stop.set()
        with self._ack:
            self._ack.notify_all()
        self._thread.join(timeout=5.0)


def main(args: list[str] | None = None) -> int:
    return run_node(SimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
