"""policy: tracks + joint states → ACT action chunks (k TCP poses + gripper in base_link) at the control rate.

The ACT model runs through ONNX Runtime only (the core's ``ActOnnxPolicy``). On each control tick the
newest tracks give the target cube (by class or track id, sticky while tracked, never one already in the
bin; the TCP's position while it is grasped and hidden in the fingers, ``GraspedTarget``) and the bin;
with the joints and the gripper they form the observation. After a cube is let go over the bin the arm
moves home before the next pick (``PickCycle``; ``max_picks`` ends the task). The published chunk is the
temporally ensembled plan (``select_chunk``, chunks of every tick woven onto the model's time axis), its
first ``chunk_publish_steps`` rows. By default it ticks on every tracks message (the camera's rate). The
chunk keeps the tracks' camera stamp and extends their trail with ``policy``; the commander turns it into
joint commands. No fresh tracks, no target or an invalid model output → no chunk (the commander's
watchdog then holds).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState

from visuomotor.errors import VisuomotorError
from visuomotor.kinematics import UR10E_JOINT_NAMES, Ur10eKinematics
from visuomotor.latency import StageTiming
from visuomotor.policy import ActOnnxPolicy, PolicyConfig, pose_from_action
from visuomotor.policy.cycle import DONE, PickCycle
from visuomotor_interfaces.msg import ActionChunk, ActionStep, TrackArray
from visuomotor_ros.convert import (
    matrix_to_pose,
    ns_to_duration,
    stamp_to_ns,
    timings_to_msg,
    track_from_msg,
    trail_from_msg,
)
from visuomotor_ros.params import declare_flat, reject_unknown_parameters, resolve_config_path
from visuomotor_ros.qos import STATE
from visuomotor_ros.runner import run_node

__all__ = ["PolicyNode", "main"]

GRIPPER_JOINT = "gripper_joint"

NODE_DEFAULTS: dict[str, Any] = {
    "topics.tracks": "/visuomotor/tracks",
    "topics.joint_states": "/joint_states",
    "topics.action_chunk": "/visuomotor/action_chunk",
    "tool_offset_z_m": 0.16,  # flange → TCP (the sim gripper's); the observation's TCP for target choice
    "max_tracks_age_s": 0.3,
    # true: one tick per new tracks message, at the camera's rate (the ensembler weaves chunks predicted
    # at any rate into the model's 10 Hz plan), so each frame's command leaves as soon as its tracks
    # arrive; false: a timer at the model's control rate acts on the newest tracks (frames between ticks
    # never reach a command).
    "tick_on_tracks": True,
}


class PolicyNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("policy", **kwargs)
        values = declare_flat(self, PolicyConfig().to_flat())
        p = declare_flat(self, NODE_DEFAULTS)
        reject_unknown_parameters(self)
        values["model_path"] = str(resolve_config_path(values["model_path"], kind="model"))
        self._config = PolicyConfig.from_flat(values)
        self._policy = ActOnnxPolicy.from_config(self._config)
        T_flange_tcp = np.eye(4)
        T_flange_tcp[2, 3] = p["tool_offset_z_m"]
        self._kin = Ur10eKinematics(T_flange_tcp=T_flange_tcp)
        self._cycle = PickCycle(self._policy, self._config, self._kin)
        self._phase = self._cycle.phase
        self._p = p
        self._lock = threading.Lock()
        self._tracks: TrackArray | None = None
        self._used_stamp = -1
        self._q: np.ndarray | None = None
        self._gripper = 0.0
        self.chunks = 0
        self._pub = self.create_publisher(ActionChunk, p["topics.action_chunk"], STATE)
        self.create_subscription(TrackArray, p["topics.tracks"], self._on_tracks, STATE)
        self.create_subscription(JointState, p["topics.joint_states"], self._on_joints, STATE)
        if not p["tick_on_tracks"]:
            self.create_timer(self._config.control_period_s, self._tick)
        self.get_logger().info(
            f"ACT {values['model_path']} on {self._policy.provider}, {self._config.control_rate_hz:.0f} Hz, "
            f"target {self._config.target_class}"
        )

    def _on_tracks(self, msg: TrackArray) -> None:
        with self._lock:
            self._tracks = msg
        if self._p["tick_on_tracks"]:
            self._tick()

    def _on_joints(self, msg: JointState) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        if not all(n in index for n in UR10E_JOINT_NAMES) or len(msg.position) != len(msg.name):
            return
        with self._lock:
            self._q = np.array([msg.position[index[n]] for n in UR10E_JOINT_NAMES])
            if GRIPPER_JOINT in index:
                self._gripper = float(msg.position[index[GRIPPER_JOINT]])

    def _tick(self) -> None:
        with self._lock:
            tracks, q, gripper = self._tracks, self._q, self._gripper
        if tracks is None or q is None:
            return
        stamp = stamp_to_ns(tracks.header.stamp)
        age_s = (self.get_clock().now().nanoseconds - stamp) * 1e-9
        if stamp == self._used_stamp or age_s > self._p["max_tracks_age_s"]:
            return  # nothing new: the commander's watchdog holds if this lasts
        start = time.monotonic_ns()
        try:
            frame_tracks = [track_from_msg(t, tracks.header.frame_id) for t in tracks.tracks]
            step = self._cycle.step(frame_tracks, q, gripper, stamp)
            if step.phase != self._phase:
                self.get_logger().info(f"{step.phase} ({step.placed} placed)")
                self._phase = step.phase
            if step.actions is None:
                if step.phase != DONE:
                    self.get_logger().warning("no target or bin track: no chunk", throttle_duration_sec=2.0)
                return
            steps = [pose_from_action(a) for a in step.actions]
            target = step.target
        except VisuomotorError as err:
            self.get_logger().error(f"no chunk this tick: {err}", throttle_duration_sec=1.0)
            return
        self._used_stamp = stamp
        trail = trail_from_msg(tracks).appended(StageTiming("policy", start, time.monotonic_ns()))
        out = ActionChunk()
        out.header.stamp = tracks.header.stamp
        out.header.frame_id = tracks.header.frame_id
        out.steps = [ActionStep(tcp_pose=matrix_to_pose(T), gripper=g) for T, g in steps]
        out.step_period = ns_to_duration(round(self._config.control_period_s * 1e9))
        out.target_track_id = -1 if target is None else int(target.track_id)
        out.timings = timings_to_msg(trail.timings)
        self._pub.publish(out)
        self.chunks += 1


def main(args: list[str] | None = None) -> int:
    return run_node(PolicyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
