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

Conveyor task (``task: conveyor``): the target moves, so the tick measures how old its tracks are and,
with ``latency_compensation``, shows the policy the cube at p + v·L, L = that age + ``command_latency_s``
(``visuomotor.policy.latency``). The age comes from the frame's trail when the camera publishes one
(``latency.capture_trail_topic``, the sim's ``/sim/frame_trail``: its render start on CLOCK_MONOTONIC to
this tick, scaled by the sim's measured clock rate — a sim that falls behind the wall clock moves its
cubes that much slower), else from the stamps (node clock − camera stamp: exact on the robot). The
latencies it compensated are logged every 5 s (p50/max).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import JointState

from visuomotor.errors import VisuomotorError
from visuomotor.kinematics import Ur10eKinematics
from visuomotor.latency import StageTiming
from visuomotor.policy import ActOnnxPolicy, PolicyConfig, pose_from_action
from visuomotor.policy.cycle import DONE, PickCycle
from visuomotor.policy.latency import ClockRate, trail_latency_s
from visuomotor_interfaces.msg import ActionChunk, ActionStep, TrackArray
from visuomotor_interfaces.msg import FrameTrail as FrameTrailMsg
from visuomotor_ros.convert import (
    joint_state_from_msg,
    matrix_to_pose,
    ns_to_duration,
    stamp_to_ns,
    timings_to_msg,
    track_from_msg,
    trail_from_msg,
)
from visuomotor_ros.guard import CallbackGuard
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
    # Conveyor task: the camera's capture trail (stamp → capture start on CLOCK_MONOTONIC) that measures
    # each frame's age; "" = from the stamps on the node's clock (a real camera publishes no trail).
    "latency.capture_trail_topic": "/sim/frame_trail",
}
#: Capture times kept for matching tracks to their frame (≈ 3 s at 30 Hz).
_CAPTURES_KEPT = 100


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
        self._latencies_s: list[float] = []
        self._stamp_ages_s: list[float] = []  # node clock − camera stamp, for comparison in the log
        self._captures: dict[int, int] = {}  # camera stamp → capture start, CLOCK_MONOTONIC ns
        self._clock_rate = ClockRate()
        self._q: np.ndarray | None = None
        self._gripper = 0.0
        self.chunks = 0
        # Tracks messages that produced no chunk, by why: on purpose (old: older than max_tracks_age_s;
        # idle: no target/bin yet, or the task is done) or for cause (error). /diagnostics every second.
        self.counts: collections.Counter[str] = collections.Counter()
        self._guard = CallbackGuard(self)  # a malformed message is counted and dropped, never fatal
        self._pub = self.create_publisher(ActionChunk, p["topics.action_chunk"], STATE)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", STATE)
        self.create_timer(1.0, self._guard.wrap("diagnostics", self._publish_diagnostics))
        g = self._guard
        self.create_subscription(TrackArray, p["topics.tracks"], g.wrap("tracks", self._on_tracks), STATE)
        on_joints = g.wrap("joint_states", self._on_joints)
        self.create_subscription(JointState, p["topics.joint_states"], on_joints, STATE)
        if not self._config.tick_on_tracks:
            self.create_timer(self._config.control_period_s, g.wrap("tick", self._tick))
        compensation = "on" if self._config.latency_compensation else "off"
        self.get_logger().info(
            f"ACT {values['model_path']} on {self._policy.provider}, {self._config.control_rate_hz:.0f} Hz, "
            f"task {self._config.task}, target {self._config.target_class}"
            + (f", latency compensation {compensation}" if self._config.task == "conveyor" else "")
        )
        if self._config.task == "conveyor":
            self.create_timer(5.0, g.wrap("latency_log", self._log_latency))
            if p["latency.capture_trail_topic"]:
                on_capture = g.wrap("capture", self._on_capture)
                self.create_subscription(FrameTrailMsg, p["latency.capture_trail_topic"], on_capture, STATE)

    def _on_tracks(self, msg: TrackArray) -> None:
        with self._lock:
            self._tracks = msg
        if self._config.tick_on_tracks:
            self._tick()

    def _on_capture(self, msg: FrameTrailMsg) -> None:
        if not msg.timings:
            return
        stamp, start = stamp_to_ns(msg.header.stamp), int(msg.timings[0].start_ns)
        with self._lock:
            self._captures[stamp] = start
            self._clock_rate.add(stamp, start)
            while len(self._captures) > _CAPTURES_KEPT:
                del self._captures[next(iter(self._captures))]

    def _measured_latency_s(self, stamp_ns: int) -> float | None:
        """L from the frame's capture trail (None without one: the cycle then uses the stamps)."""
        with self._lock:
            capture, rate = self._captures.get(stamp_ns), self._clock_rate.rate
        if capture is None:
            return None
        return trail_latency_s(capture, time.monotonic_ns(), self._config.command_latency_s, rate)

    def _on_joints(self, msg: JointState) -> None:
        sample = joint_state_from_msg(msg)  # InvalidJointState: counted and dropped by the guard
        with self._lock:
            self._q = np.array(sample.positions_rad)
            if GRIPPER_JOINT in sample.others:
                self._gripper = float(sample.others[GRIPPER_JOINT])

    def _tick(self) -> None:
        with self._lock:
            tracks, q, gripper = self._tracks, self._q, self._gripper
        if tracks is None or q is None:
            return
        stamp = stamp_to_ns(tracks.header.stamp)
        age_s = (self.get_clock().now().nanoseconds - stamp) * 1e-9
        if stamp == self._used_stamp:
            return  # nothing new (timer ticks): the commander's watchdog holds if this lasts
        if age_s > self._p["max_tracks_age_s"]:
            self.counts["old"] += 1
            return
        if self._used_stamp > 0 and self._used_stamp - stamp > 1_000_000_000:
            # Time went back (a sim reset, a looping bag): a new episode, or the ensembler refuses every
            # tick as "not after the last one".
            self._cycle.reset()
            self._used_stamp = -1
            self.counts["rewinds"] += 1
            self.get_logger().info("time went back: the task starts afresh")
        start = time.monotonic_ns()
        try:
            frame_tracks = [track_from_msg(t, tracks.header.frame_id) for t in tracks.tracks]
            now_ns = self.get_clock().now().nanoseconds
            measured = self._measured_latency_s(stamp) if self._config.task == "conveyor" else None
            step = self._cycle.step(frame_tracks, q, gripper, stamp, now_ns, measured)
            if self._config.task == "conveyor" and self._config.latency_compensation:
                self._latencies_s.append(self._cycle.last_latency_s)
                self._stamp_ages_s.append(max(0, now_ns - stamp) * 1e-9)
            if step.phase != self._phase:
                self.get_logger().info(f"{step.phase} ({step.placed} placed)")
                self._phase = step.phase
            if step.actions is None:
                self.counts["idle"] += 1
                if step.phase != DONE:
                    self.get_logger().warning("no target or bin track: no chunk", throttle_duration_sec=2.0)
                return
            steps = [pose_from_action(a) for a in step.actions]
            target = step.target
        except VisuomotorError as err:
            self.counts["error"] += 1
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

    def _publish_diagnostics(self) -> None:
        """Chunks sent and tracks messages that gave none (old / idle / error) on /diagnostics."""
        counts = {"chunks": self.chunks, **self.counts, **self._guard.counts}
        level = DiagnosticStatus.WARN if self.counts["error"] or self._guard.total else DiagnosticStatus.OK
        status = DiagnosticStatus(level=level, name=f"{self.get_name()}: ticks",
                                  hardware_id=self._policy.provider, message=f"task {self._config.task}")
        status.values = [KeyValue(key=k, value=str(v)) for k, v in sorted(counts.items())]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(msg)

    def _log_latency(self) -> None:
        """The compensated latencies (tick − camera stamp + command estimate) since the last report."""
        if self._latencies_s:
            ms = np.array(self._latencies_s) * 1000.0
            age = np.array(self._stamp_ages_s) * 1000.0
            with self._lock:
                rate = self._clock_rate.rate
            self.get_logger().info(
                f"latency compensated over {ms.size} ticks: p50 {np.median(ms):.0f} ms, "
                f"max {ms.max():.0f} ms (world clock rate {rate:.2f}; "
                f"node clock − stamp p50 {np.median(age):.0f} ms)"
            )
            self._latencies_s.clear()
            self._stamp_ages_s.clear()


def main(args: list[str] | None = None) -> int:
    return run_node(PolicyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
