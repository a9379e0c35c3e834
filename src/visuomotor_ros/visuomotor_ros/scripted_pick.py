"""scripted_pick: the sim's scripted expert as a node — picks one cube into the bin from ground truth.

It stands where the policy will stand: for every colour frame it runs one step of its phase machine and
publishes the frame's trail (stage ``expert``), so the latency monitor sees camera → expert → command.
Commands go to the UR driver topics (scaled JTC + gripper), in sim time (``use_sim_time:=true``).
Status (phase names, then ``done: success`` / ``done: failure …``) is latched on ``~/status``.
Joint states are validated by ``convert.joint_state_from_msg``; every callback is guarded (a malformed
message is counted, logged and dropped; the node keeps running).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import transforms3d
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from visuomotor.errors import KinematicsError, SimError
from visuomotor.latency import FrameTrail, StageTimer
from visuomotor.sim import JointTrajectoryCommand
from visuomotor.sim.expert import PhaseCommand, ScriptedPick, to_phase_commands
from visuomotor_interfaces.msg import FrameTrail as FrameTrailMsg
from visuomotor_interfaces.msg import SimGroundTruth
from visuomotor_ros.convert import (
    joint_state_from_msg,
    ns_to_duration,
    pose_to_matrix,
    stamp_to_ns,
    trail_to_msg,
)
from visuomotor_ros.guard import CallbackGuard
from visuomotor_ros.params import declare_flat, reject_unknown_parameters, require_range
from visuomotor_ros.qos import COMMAND, LATCHED, SENSOR, STATE
from visuomotor_ros.runner import run_node

__all__ = ["ScriptedPickNode", "main", "trajectory_to_msg"]

NODE_DEFAULTS: dict[str, Any] = {
    "target_class": "red_cube",
    "topics.color": "/camera/camera/color/image_raw",
    "topics.joint_states": "/joint_states",
    "topics.ground_truth": "/sim/ground_truth",
    "topics.trajectory": "/scaled_joint_trajectory_controller/joint_trajectory",
    "topics.gripper": "/gripper_controller/commands",
    "topics.frame_trail": "/visuomotor/frame_trail",
    "start_delay_s": 0.5,
    "settle_after_s": 1.0,
}


def trajectory_to_msg(cmd: JointTrajectoryCommand) -> JointTrajectory:
    msg = JointTrajectory(joint_names=list(cmd.joint_names))
    for i, t in enumerate(cmd.times_s):
        point = JointTrajectoryPoint(
            positions=[float(x) for x in cmd.positions[i]], time_from_start=ns_to_duration(round(t * 1e9))
        )
        if cmd.velocities is not None:
            point.velocities = [float(x) for x in cmd.velocities[i]]
        msg.points.append(point)
    return msg


def _yaw(pose_quat_xyzw: tuple[float, float, float, float]) -> float:
    x, y, z, w = pose_quat_xyzw
    return float(transforms3d.euler.quat2euler([w, x, y, z], "sxyz")[2])


class ScriptedPickNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("parameter_overrides", [Parameter("use_sim_time", Parameter.Type.BOOL, True)])
        super().__init__("scripted_pick", **kwargs)
        p = declare_flat(self, NODE_DEFAULTS)
        reject_unknown_parameters(self)
        require_range("start_delay_s", p["start_delay_s"], 0.0, 600.0, "s")
        require_range("settle_after_s", p["settle_after_s"], 0.0, 600.0, "s")
        self._p = p
        self._expert = ScriptedPick()
        self._lock = threading.Lock()
        self._joints: np.ndarray | None = None
        self._truth: SimGroundTruth | None = None
        self._phases: list[PhaseCommand] = []
        self._phase = -1
        self._phase_end_ns = 0
        self._start_ns: int | None = None
        self._target = ""
        self.done = False

        self._pub_traj = self.create_publisher(JointTrajectory, p["topics.trajectory"], COMMAND)
        self._pub_grip = self.create_publisher(Float64MultiArray, p["topics.gripper"], COMMAND)
        self._pub_trail = self.create_publisher(FrameTrailMsg, p["topics.frame_trail"], STATE)
        self._pub_status = self.create_publisher(String, "~/status", LATCHED)
        g = self._guard = CallbackGuard(self)
        self.create_subscription(
            JointState, p["topics.joint_states"], g.wrap("joint_states", self._on_joints), STATE
        )
        self.create_subscription(
            SimGroundTruth, p["topics.ground_truth"], g.wrap("ground_truth", self._on_truth), STATE
        )
        self.create_subscription(Image, p["topics.color"], g.wrap("color", self._on_frame), SENSOR)

    def _status(self, text: str) -> None:
        self.get_logger().info(text)
        self._pub_status.publish(String(data=text))

    def _on_joints(self, msg: JointState) -> None:
        sample = joint_state_from_msg(msg)  # InvalidJointState: counted and dropped by the guard
        with self._lock:
            self._joints = np.array(sample.positions_rad)

    def _on_truth(self, msg: SimGroundTruth) -> None:
        for o in msg.objects:
            p, q, e = o.pose.position, o.pose.orientation, o.extent
            if not np.isfinite([p.x, p.y, p.z, q.x, q.y, q.z, q.w, e.x, e.y, e.z, o.size_m]).all():
                raise SimError(f"ground truth of {o.name!r} is not finite: dropped")
        with self._lock:
            self._truth = msg

    def _on_frame(self, msg: Image) -> None:
        timer = StageTimer.start("expert")
        self._step(self.get_clock().now().nanoseconds)
        trail = FrameTrail(stamp_to_ns(msg.header.stamp), (timer.stop(),))
        self._pub_trail.publish(trail_to_msg(trail, msg.header.frame_id))

    def _step(self, now_ns: int) -> None:
        if self.done:
            return
        with self._lock:
            joints, truth = self._joints, self._truth
        if joints is None or truth is None:
            return
        if self._phase < 0:
            if self._start_ns is None:
                self._start_ns = now_ns
            if now_ns - self._start_ns < self._p["start_delay_s"] * 1e9:
                return
            self._plan(joints, truth)
            if self.done:
                return
            self._begin_phase(0, now_ns)
        elif now_ns >= self._phase_end_ns:
            if self._phase + 1 < len(self._phases):
                self._begin_phase(self._phase + 1, now_ns)
            elif now_ns >= self._phase_end_ns + self._p["settle_after_s"] * 1e9:
                self._finish(truth)

    def _plan(self, joints: np.ndarray, truth: SimGroundTruth) -> None:
        cubes = [o for o in truth.objects if o.class_name == self._p["target_class"]]
        bins = [o for o in truth.objects if o.class_name == "bin"]
        if not cubes or not bins:
            self.done = True
            self._status(f"done: failure — no {self._p['target_class']!r} or no bin in the ground truth")
            return
        cube, bin_ = cubes[0], bins[0]
        q = cube.pose.orientation
        try:
            waypoints = self._expert.plan(
                pose_to_matrix(cube.pose)[:3, 3], _yaw((q.x, q.y, q.z, q.w)),
                pose_to_matrix(bin_.pose)[:3, 3], joints,
                bin_height_m=bin_.extent.z, cube_size_m=cube.size_m,
            )
        except KinematicsError as err:
            self.done = True
            self._status(f"done: failure — cannot reach {cube.name}: {err}")
            return
        self._target = cube.name
        self._phases = to_phase_commands(waypoints)
        self._status(f"picking {cube.name}: {' → '.join(c.phase for c in self._phases)}")

    def _begin_phase(self, index: int, now_ns: int) -> None:
        cmd = self._phases[index]
        self._phase = index
        self._phase_end_ns = now_ns + round(cmd.duration_s * 1e9)
        self._pub_grip.publish(Float64MultiArray(data=[float(cmd.gripper)]))
        self._pub_traj.publish(trajectory_to_msg(cmd.trajectory))
        self._status(f"phase {cmd.phase}")

    def _finish(self, truth: SimGroundTruth) -> None:
        self.done = True
        cube = next((o for o in truth.objects if o.name == self._target), None)
        bin_ = next((o for o in truth.objects if o.class_name == "bin"), None)
        if cube is None or bin_ is None:
            self._status("done: failure — target lost from the ground truth")
            return
        ok, why = cube_in_bin(cube, bin_)
        self._status("done: success" if ok else f"done: failure — {why}")


def cube_in_bin(cube: Any, bin_: Any) -> tuple[bool, str]:
    """Is the cube's centre inside the bin's footprint and below its rim? (SimObject messages)"""
    c, b = cube.pose.position, bin_.pose.position
    inside_x = abs(c.x - b.x) < bin_.extent.x / 2
    inside_y = abs(c.y - b.y) < bin_.extent.y / 2
    below_rim = c.z < b.z + bin_.extent.z / 2
    if inside_x and inside_y and below_rim:
        return True, ""
    return False, f"cube at ({c.x:.3f}, {c.y:.3f}, {c.z:.3f}) m is not in the bin at ({b.x:.3f}, {b.y:.3f})"


def main(args: list[str] | None = None) -> int:
    return run_node(ScriptedPickNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
