"""commander: action chunks → IK + safety (in the core) → the UR driver's joint trajectory topic.

Every command passes the core's SafetyGuard; a rejected chunk becomes a HOLD at the current joints with
the reason logged and published on ``topics.rejections`` (the latency monitor counts them). A latched
``/visuomotor/estop`` (std_msgs/Bool, true) stops everything until it is cleared with false; stale
joint states or perception (no fresh chunk) also hold. ``dry_run`` computes and logs, publishes nothing.
Each chunk (a HOLD too) ends the frame's trail with ``command`` and publishes it on ``topics.frame_trail``.
Safety settings come from ``config/safety.yaml``; the tool transform is the gripper's.

``mode: trajectory`` (default) sends one ``JointTrajectory`` per chunk to the scaled JTC; ``mode:
streaming`` sends one joint target per tick at ``streaming_rate_hz`` to the ``forward_position_controller``
(``Float64MultiArray``), sampled from the last accepted chunk and rate-limited by the core's
``StreamingCommander``; every target passes the guard.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from visuomotor.control import Commander, JointCommand, SafetyConfig, StreamingCommander
from visuomotor.errors import ConfigError
from visuomotor.kinematics import UR10E_JOINT_NAMES
from visuomotor.latency import StageTiming
from visuomotor_interfaces.msg import ActionChunk
from visuomotor_interfaces.msg import FrameTrail as FrameTrailMsg
from visuomotor_ros.convert import (
    duration_to_ns,
    ns_to_duration,
    pose_to_matrix,
    stamp_to_ns,
    trail_from_msg,
    trail_to_msg,
)
from visuomotor_ros.params import declare_flat, reject_unknown_parameters
from visuomotor_ros.qos import COMMAND, LATCHED, STATE
from visuomotor_ros.runner import run_node

__all__ = ["CommanderNode", "command_to_msg", "main"]

NODE_DEFAULTS: dict[str, Any] = {
    "topics.action_chunk": "/visuomotor/action_chunk",
    "topics.joint_states": "/joint_states",
    "topics.trajectory": "/scaled_joint_trajectory_controller/joint_trajectory",
    "topics.gripper": "/gripper_controller/commands",
    "topics.estop": "/visuomotor/estop",
    "topics.rejections": "/visuomotor/rejections",
    "topics.frame_trail": "/visuomotor/frame_trail",
    # Flange → TCP along the tool z axis: the sim gripper's (SimWorld.T_FLANGE_TCP, checked by a test);
    # set it to the real gripper's on the robot.
    "tool_offset_z_m": 0.16,
    "watchdog_rate_hz": 20.0,
    "mode": "trajectory",  # trajectory (scaled JTC) | streaming (forward_position_controller)
    "topics.forward_position": "/forward_position_controller/commands",
    "streaming_rate_hz": 125.0,  # the UR driver's forward_position_controller runs at 125–500 Hz
}
MODES = ("trajectory", "streaming")


def command_to_msg(cmd: JointCommand) -> JointTrajectory:
    msg = JointTrajectory(joint_names=list(cmd.joint_names))
    for t, q, qd in zip(cmd.times_s, cmd.positions, cmd.velocities, strict=True):
        msg.points.append(JointTrajectoryPoint(
            positions=[float(x) for x in q], velocities=[float(x) for x in qd],
            time_from_start=ns_to_duration(round(float(t) * 1e9)),
        ))
    return msg


class CommanderNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("commander", **kwargs)
        config = SafetyConfig.from_flat_dict(declare_flat(self, SafetyConfig().to_flat_dict()))
        p = declare_flat(self, NODE_DEFAULTS)
        reject_unknown_parameters(self)
        if p["watchdog_rate_hz"] <= 0:
            raise ConfigError(f"watchdog_rate_hz must be positive, got {p['watchdog_rate_hz']}")
        if p["mode"] not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {p['mode']!r}")
        if p["streaming_rate_hz"] <= 0:
            raise ConfigError(f"streaming_rate_hz must be positive, got {p['streaming_rate_hz']}")
        T_flange_tcp = np.eye(4)
        T_flange_tcp[2, 3] = p["tool_offset_z_m"]
        self._p = p
        self._commander = Commander(config, T_flange_tcp=T_flange_tcp)
        self._stream = (
            StreamingCommander(self._commander, 1.0 / p["streaming_rate_hz"])
            if p["mode"] == "streaming" else None
        )
        self._stream_holding = False
        self._lock = threading.Lock()
        self._q: np.ndarray | None = None
        self._qd: np.ndarray | None = None
        self._joints_ns = -1
        self._chunk_ns = -1
        self.published: list[JointCommand] = []  # for tests and introspection (bounded below)
        self.rejected = 0
        self._pub_traj = self.create_publisher(JointTrajectory, p["topics.trajectory"], COMMAND)
        self._pub_grip = self.create_publisher(Float64MultiArray, p["topics.gripper"], COMMAND)
        self._pub_forward = (
            self.create_publisher(Float64MultiArray, p["topics.forward_position"], COMMAND)
            if self._stream is not None else None
        )
        self._pub_reject = self.create_publisher(String, p["topics.rejections"], STATE)
        self._pub_trail = self.create_publisher(FrameTrailMsg, p["topics.frame_trail"], STATE)
        self.create_subscription(JointState, p["topics.joint_states"], self._on_joints, STATE)
        self.create_subscription(ActionChunk, p["topics.action_chunk"], self._on_chunk, STATE)
        self.create_subscription(Bool, p["topics.estop"], self._on_estop, LATCHED)
        if self._stream is not None:
            self.create_timer(1.0 / p["streaming_rate_hz"], self._stream_tick)
        else:
            self.create_timer(1.0 / p["watchdog_rate_hz"], self._watchdog)
        mode = "DRY RUN (nothing is published)" if config.dry_run else "live"
        if not config.enabled:
            self.get_logger().warning("SAFETY CHECKS DISABLED (unsafe_disable_safety: true)")
        out = p["topics.forward_position"] if self._stream is not None else p["topics.trajectory"]
        self.get_logger().info(f"commander {mode}, {p['mode']}: chunks on {p['topics.action_chunk']} → {out}")

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_joints(self, msg: JointState) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        if not all(n in index for n in UR10E_JOINT_NAMES):
            return
        q = np.array([msg.position[index[n]] for n in UR10E_JOINT_NAMES])
        qd = (np.array([msg.velocity[index[n]] for n in UR10E_JOINT_NAMES])
              if len(msg.velocity) == len(msg.name) else None)
        with self._lock:
            self._q, self._qd, self._joints_ns = q, qd, stamp_to_ns(msg.header.stamp)

    def _on_estop(self, msg: Bool) -> None:
        with self._lock:
            if msg.data:
                self._commander.guard.estop("e-stop topic")
            else:
                self._commander.guard.clear_estop()
        self.get_logger().warning("E-STOP latched" if msg.data else "e-stop cleared")
        if msg.data:
            self._watchdog()

    def _on_chunk(self, msg: ActionChunk) -> None:
        start = time.monotonic_ns()
        with self._lock:
            q, qd, joints_ns = self._q, self._qd, self._joints_ns
        if q is None:
            self.get_logger().warning("no joint states yet: chunk ignored", throttle_duration_sec=2.0)
            return
        poses = np.array([pose_to_matrix(s.tcp_pose) for s in msg.steps]).reshape(-1, 4, 4)
        gripper = np.array([s.gripper for s in msg.steps])
        chunk_ns = stamp_to_ns(msg.header.stamp)
        plan = self._stream.set_chunk if self._stream is not None else self._commander.plan
        with self._lock:
            cmd = plan(
                poses, gripper, duration_to_ns(msg.step_period) * 1e-9, q, now_ns=self._now_ns(),
                perception_stamp_ns=chunk_ns, joints_stamp_ns=joints_ns, qd_current_rad_s=qd,
            )
            self._chunk_ns = chunk_ns
        if self._stream is None or not cmd.accepted:
            self._send(cmd)  # streaming: the ticks send the targets; a refused chunk's HOLD goes now
        elif cmd.gripper is not None and cmd.publish:
            self._pub_grip.publish(Float64MultiArray(data=[float(cmd.gripper)]))
        # Every chunk ends its frame's trail, a HOLD included (the rejection is counted apart): the
        # frame has been handled, and a lock-step sim waits for exactly this before the next frame.
        trail = trail_from_msg(msg).appended(StageTiming("command", start, time.monotonic_ns()))
        self._pub_trail.publish(trail_to_msg(trail, msg.header.frame_id))

    def _watchdog(self) -> None:
        with self._lock:
            if self._q is None:
                return
            cmd = self._commander.watchdog(
                self._now_ns(), self._q, perception_stamp_ns=self._chunk_ns, joints_stamp_ns=self._joints_ns,
                qd_current_rad_s=self._qd,
            )
        if cmd is not None:
            self._send(cmd)

    def _stream_tick(self) -> None:
        """Streaming: the next target (or a HOLD) every tick, from the last accepted chunk."""
        assert self._stream is not None
        with self._lock:
            if self._q is None:
                return
            cmd = self._stream.tick(
                self._now_ns(), self._q, perception_stamp_ns=self._chunk_ns, joints_stamp_ns=self._joints_ns
            )
        if not cmd.accepted and self._stream_holding:
            return  # one HOLD (and one rejection) per transition; the controller keeps the last target
        self._stream_holding = not cmd.accepted
        self._send(cmd)

    def _send(self, cmd: JointCommand) -> None:
        if not cmd.accepted:
            self.rejected += 1
            self.get_logger().warning(f"HOLD ({cmd.reason_code}): {cmd.reason}", throttle_duration_sec=1.0)
            self._pub_reject.publish(String(data=cmd.reason_code))
        if not cmd.publish:
            return
        if self._pub_forward is not None:  # streaming: a target or a hold is one position vector
            if cmd.positions.shape[0]:
                self._pub_forward.publish(Float64MultiArray(data=[float(x) for x in cmd.positions[-1]]))
            self.published.append(cmd)
            del self.published[:-200]
            return
        self._pub_traj.publish(command_to_msg(cmd))
        if cmd.gripper is not None:
            self._pub_grip.publish(Float64MultiArray(data=[float(cmd.gripper)]))
        self.published.append(cmd)
        del self.published[:-200]


def main(args: list[str] | None = None) -> int:
    return run_node(CommanderNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
