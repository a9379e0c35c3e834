"""commander: action chunks → IK + safety (in the core) → the UR driver's joint trajectory topic.

Every command passes the core's SafetyGuard from the MEASURED state, HOLDs included: a rejected chunk
becomes a HOLD (a braking stop or the measured joints, checked) with the reason logged and published on
``topics.rejections`` (the latency monitor counts them); with no trustworthy joint state (stale, invalid)
the HOLD is "stop where you are" by the controller's own stop: an empty ``JointTrajectory``. Joint states
are validated at the boundary (``convert.joint_state_from_msg``) and followed by a ``JointStateFilter``
(impossible jumps dropped, velocity estimated when the driver sends none; unknown → no plan). No message
ends the node: every callback is guarded, drops are counted and reported on ``/diagnostics``.

E-stop: ``topics.estop`` (std_msgs/Bool) is subscribed so that volatile AND transient-local, reliable AND
best-effort publishers all match (``qos.ESTOP_SUBSCRIPTIONS``); ``services.estop`` and
``services.reset_estop`` (std_srvs/Trigger) do the same. Engaging is instant, from anyone, and sends a
HOLD at once; releasing needs an explicit act: the service, or a ``false`` published after the e-stop
engaged (a latched or delayed ``false`` from before does not release it); both are logged with the
publisher / caller where the graph tells it. The state is latched on ``topics.estop_state``.

``dry_run`` computes and logs, publishes nothing. Parameters are read-only at run time (a changed value
would not be applied). Each chunk (a HOLD too) ends the frame's trail with ``command`` and publishes it on
``topics.frame_trail``. Safety settings come from ``config/safety.yaml``; the tool transform is the
gripper's.

``mode: trajectory`` (default) sends one ``JointTrajectory`` per chunk to the scaled JTC; ``mode:
streaming`` sends one joint target per tick at ``streaming_rate_hz`` to the ``forward_position_controller``
(``Float64MultiArray``), sampled from the last accepted chunk and rate-limited by the core's
``StreamingCommander``; every target passes the guard, including its distance to the measured joints.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.subscription import MessageInfo
from rclpy.topic_endpoint_info import TopicEndpointInfo
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from visuomotor.control import Commander, JointCommand, SafetyConfig, StreamingCommander
from visuomotor.control.state import JointStateFilter, JointStateSample
from visuomotor.control.violations import ForeignJointState, MalformedCommand
from visuomotor.errors import ConfigError, SafetyViolation
from visuomotor.kinematics import TCP_OFFSET_M
from visuomotor.latency import StageTiming
from visuomotor_interfaces.msg import ActionChunk
from visuomotor_interfaces.msg import FrameTrail as FrameTrailMsg
from visuomotor_ros.convert import (
    action_chunk_from_msg,
    command_to_msg,
    joint_state_from_msg,
    ns_to_stamp,
    trail_from_msg,
    trail_to_msg,
)
from visuomotor_ros.guard import CallbackGuard
from visuomotor_ros.params import declare_flat, reject_unknown_parameters, require_range
from visuomotor_ros.qos import COMMAND, ESTOP_SUBSCRIPTIONS, LATCHED, STATE
from visuomotor_ros.runner import run_node

__all__ = ["CommanderNode", "main"]

NODE_DEFAULTS: dict[str, Any] = {
    "topics.action_chunk": "/visuomotor/action_chunk",
    "topics.joint_states": "/joint_states",
    "topics.trajectory": "/scaled_joint_trajectory_controller/joint_trajectory",
    "topics.gripper": "/gripper_controller/commands",
    "topics.estop": "/visuomotor/estop",
    "topics.estop_state": "/visuomotor/estop_state",
    "topics.rejections": "/visuomotor/rejections",
    "topics.frame_trail": "/visuomotor/frame_trail",
    "topics.diagnostics": "/diagnostics",
    "services.estop": "/visuomotor/estop/engage",
    "services.reset_estop": "/visuomotor/estop/reset",
    # false: only the reset service releases the e-stop (the topic can then only engage it).
    "estop_release_via_topic": True,
    # Flange → TCP along the tool z axis: the cell's gripper (kinematics.TCP_OFFSET_M, which the sim
    # builds its gripper from); set it to the real gripper's on the robot.
    "tool_offset_z_m": TCP_OFFSET_M,
    "watchdog_rate_hz": 20.0,
    "diagnostics_period_s": 1.0,
    "mode": "trajectory",  # trajectory (scaled JTC) | streaming (forward_position_controller)
    "topics.forward_position": "/forward_position_controller/commands",
    "streaming_rate_hz": 125.0,  # the UR driver's forward_position_controller runs at 125–500 Hz
}
MODES = ("trajectory", "streaming")


def _node_of(endpoint: TopicEndpointInfo) -> str | None:
    """The endpoint's node, or None while discovery has not told its name yet."""
    if endpoint.node_name == "_NODE_NAME_UNKNOWN_":  # rmw's placeholder until the node's info arrives
        return None
    return f"{endpoint.node_namespace.rstrip('/')}/{endpoint.node_name}"


class CommanderNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("commander", **kwargs)
        config = SafetyConfig.from_flat(declare_flat(self, SafetyConfig().to_flat_dict()))
        p = declare_flat(self, NODE_DEFAULTS)
        reject_unknown_parameters(self)
        require_range("watchdog_rate_hz", p["watchdog_rate_hz"], 1.0, 1000.0, "Hz")
        require_range("streaming_rate_hz", p["streaming_rate_hz"], 10.0, 1000.0, "Hz")
        require_range("diagnostics_period_s", p["diagnostics_period_s"], 0.1, 60.0, "s")
        require_range("tool_offset_z_m", p["tool_offset_z_m"], 0.0, 1.0, "m")
        if p["mode"] not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {p['mode']!r}")
        if not isinstance(p["estop_release_via_topic"], bool):
            raise ConfigError(
                f"estop_release_via_topic must be true or false, got {p['estop_release_via_topic']!r}"
            )
        T_flange_tcp = np.eye(4)
        T_flange_tcp[2, 3] = p["tool_offset_z_m"]
        self._p = p
        self._config = config
        self._commander = Commander(config, T_flange_tcp=T_flange_tcp)
        self._stream = (
            StreamingCommander(self._commander, 1.0 / p["streaming_rate_hz"])
            if p["mode"] == "streaming" else None
        )
        self._stream_holding = False
        self._lock = threading.RLock()
        self._guard = CallbackGuard(self)
        self._filter = JointStateFilter(config.joint_state_timeout_s)
        self._joints: JointStateSample | None = None
        self._gid_names: dict[bytes, str] = {}
        self._owner_checked_ns = 0
        self._chunk_ns = -1
        self._estop_since_wall_ns = 0
        self._estop_seen: collections.deque[tuple[str, int | None]] = collections.deque(maxlen=64)
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
        self._pub_estop = self.create_publisher(Bool, p["topics.estop_state"], LATCHED)
        self._pub_diag = self.create_publisher(DiagnosticArray, p["topics.diagnostics"], STATE)
        g = self._guard
        self.create_subscription(
            JointState, p["topics.joint_states"], g.wrap("joint_states", self._on_joints), STATE
        )
        self.create_subscription(
            ActionChunk, p["topics.action_chunk"], g.wrap("action_chunk", self._on_chunk), STATE
        )
        for qos in ESTOP_SUBSCRIPTIONS:
            self.create_subscription(Bool, p["topics.estop"], g.wrap("estop", self._on_estop), qos)
        self.create_service(Trigger, p["services.estop"], self._srv_engage)
        self.create_service(Trigger, p["services.reset_estop"], self._srv_reset)
        if self._stream is not None:
            self.create_timer(1.0 / p["streaming_rate_hz"], g.wrap("stream_tick", self._stream_tick))
        else:
            self.create_timer(1.0 / p["watchdog_rate_hz"], g.wrap("watchdog", self._watchdog))
        self.create_timer(p["diagnostics_period_s"], g.wrap("diagnostics", self._publish_diagnostics))
        self._publish_estop_state()
        mode = "DRY RUN (nothing is published)" if config.dry_run else "live"
        if not config.enabled:
            self.get_logger().warning("SAFETY CHECKS DISABLED (unsafe_disable_safety: true)")
        out = p["topics.forward_position"] if self._stream is not None else p["topics.trajectory"]
        self.get_logger().info(
            f"commander {mode}, {p['mode']}: chunks on {p['topics.action_chunk']} → {out}; e-stop on "
            f"{p['topics.estop']} and {p['services.estop']}, reset with {p['services.reset_estop']}"
        )

    # ------------------------------------------------------------------ state
    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    @property
    def estopped(self) -> bool:
        return self._commander.guard.estopped

    @property
    def dropped_inputs(self) -> dict[str, int]:
        """``{"<callback>: <reason>": count}`` of the messages dropped at the boundary."""
        return self._guard.counts

    def _hold(self, reason: SafetyViolation | tuple[str, str]) -> JointCommand:
        """A HOLD (``refuse`` of a violation, or ``hold`` for (code, reason)) from the newest joint state if
        it is fresh — extrapolated to now, its age lengthening the stop — else a STOP (not trustworthy)."""
        j, now = self._joints, self._now_ns()
        if j is None or abs(now - j.stamp_ns) > self._config.joint_state_timeout_s * 1e9:
            q = qd = qdd = stamp = None
        else:
            q, qd, qdd, stamp = j.positions_rad, j.velocities_rad_s, j.accelerations_rad_s2, j.stamp_ns
        if isinstance(reason, tuple):
            return self._commander.hold(q, *reason, qd, now_ns=now, joints_stamp_ns=stamp,
                                        qdd_current_rad_s2=qdd)
        return self._commander.refuse(reason, q, qd, now_ns=now, joints_stamp_ns=stamp,
                                      qdd_current_rad_s2=qdd)

    # ------------------------------------------------------------------ inputs
    def _on_joints(self, msg: JointState, info: MessageInfo) -> None:
        sample = joint_state_from_msg(msg)  # InvalidJointState: counted and dropped by the guard
        source = self._joint_state_source(bytes((info.get("publisher_gid") or {}).get("data") or b""))
        with self._lock:
            owner = self._filter.owner
            if owner is not None and source != owner and self._owner_left_graph(owner):
                self.get_logger().warning(f"joint states: {owner} left the graph; {source} may take over")
                self._filter.release()
            self._joints = self._filter.update(sample, source=source)

    def _joint_state_source(self, gid: bytes) -> str | None:
        """The node that published a joint state (a respawned driver keeps its name, not its GID).

        Raises:
            ForeignJointState: the publisher is not on the graph (yet): the sample is dropped.
        """
        if not gid:
            return None  # this RMW gives no publisher GID: no ownership check
        name = self._gid_names.get(gid)
        if name is None:
            name = self._publisher_of(self._p["topics.joint_states"], gid)
            if name is None:
                raise ForeignJointState("joint state from a publisher not (yet) on the graph: dropped")
            if len(self._gid_names) >= 256:  # bounded: a churn of publishers must not grow the node
                self._gid_names.clear()
            self._gid_names[gid] = name
        return name

    def _owner_left_graph(self, owner: object) -> bool:
        """Whether the joint states' owner has no publisher on the topic any more (checked ≤ 2 Hz)."""
        now = time.monotonic_ns()
        if now - self._owner_checked_ns < 500_000_000:
            return False
        self._owner_checked_ns = now
        topic = self._p["topics.joint_states"]
        return all(_node_of(ep) != owner for ep in self.get_publishers_info_by_topic(topic))

    def _on_chunk(self, msg: ActionChunk) -> None:
        start = time.monotonic_ns()
        with self._lock:
            joints = self._joints
            if joints is None:
                self.get_logger().warning("no joint states yet: chunk ignored", throttle_duration_sec=2.0)
                return
            try:
                chunk = action_chunk_from_msg(msg, self._config.max_chunk_steps)
            except MalformedCommand as err:
                cmd = self._hold(err)
            else:
                plan = self._stream.set_chunk if self._stream is not None else self._commander.plan
                cmd = plan(
                    chunk.T_base_link_tcp, chunk.gripper, chunk.step_s, joints.positions_rad,
                    now_ns=self._now_ns(), perception_stamp_ns=chunk.stamp_ns,
                    joints_stamp_ns=joints.stamp_ns, qd_current_rad_s=joints.velocities_rad_s,
                    qdd_current_rad_s2=joints.accelerations_rad_s2,
                )
                if cmd.accepted:
                    self._chunk_ns = chunk.stamp_ns
        if self._stream is None or not cmd.accepted:
            self._send(cmd)  # streaming: the ticks send the targets; a refused chunk's HOLD goes now
            self._stream_holding = self._stream is not None
        elif cmd.gripper is not None and cmd.publish:
            self._pub_grip.publish(Float64MultiArray(data=[float(cmd.gripper)]))
        # Every chunk ends its frame's trail, a HOLD included (the rejection is counted apart): the
        # frame has been handled, and a lock-step sim waits for exactly this before the next frame.
        trail = trail_from_msg(msg).appended(StageTiming("command", start, time.monotonic_ns()))
        self._pub_trail.publish(trail_to_msg(trail, msg.header.frame_id))

    def _watchdog(self) -> None:
        with self._lock:
            j = self._joints
            if j is None:
                return
            cmd = self._commander.watchdog(
                self._now_ns(), j.positions_rad, perception_stamp_ns=self._chunk_ns,
                joints_stamp_ns=j.stamp_ns, qd_current_rad_s=j.velocities_rad_s,
                qdd_current_rad_s2=j.accelerations_rad_s2,
            )
        if cmd is not None:
            self._send(cmd)

    def _stream_tick(self) -> None:
        """Streaming: the next target (or a HOLD) every tick, from the last accepted chunk."""
        assert self._stream is not None
        with self._lock:
            j = self._joints
            if j is None:
                return
            cmd = self._stream.tick(
                self._now_ns(), j.positions_rad, perception_stamp_ns=self._chunk_ns,
                joints_stamp_ns=j.stamp_ns,
            )
        if not cmd.accepted and self._stream_holding:
            return  # one HOLD (and one rejection) per transition; the controller keeps the last target
        self._stream_holding = not cmd.accepted
        self._send(cmd)

    # ------------------------------------------------------------------ e-stop
    def _on_estop(self, msg: Bool, info: MessageInfo) -> None:
        gid = info.get("publisher_gid") or {}
        key = (repr(gid.get("data")), info.get("publication_sequence_number"))
        if key[1] is not None and key in self._estop_seen:
            return  # the same sample through another of the three subscriptions
        self._estop_seen.append(key)
        who = self._publisher_of(self._p["topics.estop"], gid.get("data")) or "an unknown publisher"
        if msg.data:
            self._engage(f"topic {self._p['topics.estop']} from {who}")
            return
        if not self.estopped:
            return
        if not self._p["estop_release_via_topic"]:
            self.get_logger().warning(
                f"e-stop release on {self._p['topics.estop']} from {who} ignored (estop_release_via_topic: "
                f"false): call {self._p['services.reset_estop']}"
            )
            return
        sent_ns = int(info.get("source_timestamp") or 0)
        if sent_ns <= self._estop_since_wall_ns:
            self.get_logger().warning(
                f"e-stop release from {who} ignored: published before the e-stop engaged (a latched or "
                f"delayed false); publish false again or call {self._p['services.reset_estop']}"
            )
            return
        self._release(f"topic {self._p['topics.estop']} from {who}")

    def _srv_engage(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            service = self._p["services.estop"]
            self._engage(f"service {service} (caller {self._callers(service)})")
            response.success, response.message = True, "e-stop engaged: the arm holds"
        except Exception as err:  # the service must answer; the e-stop latch itself cannot fail
            self._commander.guard.estop(f"service {self._p['services.estop']}")
            response.success, response.message = True, f"e-stop engaged (reporting failed: {err!r})"
        return response

    def _srv_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            if not self.estopped:
                response.success, response.message = True, "e-stop was not engaged"
                return response
            caller = self._callers(self._p["services.reset_estop"])
            was = self._release(f"service {self._p['services.reset_estop']} (caller {caller})")
            response.success, response.message = True, f"e-stop released (was: {was})"
        except Exception as err:
            response.success, response.message = False, f"reset failed: {err!r}"
        return response

    def _engage(self, reason: str) -> None:
        with self._lock:
            first = not self.estopped
            self._commander.guard.estop(reason)
            if first:
                self._estop_since_wall_ns = time.time_ns()
            if self._stream is not None:
                self._stream.reset()
            cmd = self._hold(("estop", f"e-stop: {reason}"))
        # Instant and unconditional: a HOLD goes out now, whatever was in force before.
        self._send(cmd)
        self._stream_holding = self._stream is not None
        if first:
            self.get_logger().error(f"E-STOP ENGAGED by {reason}")
            self._publish_estop_state()

    def _release(self, by: str) -> str:
        with self._lock:
            was = self._commander.guard.estop_reason or ""
            self._commander.guard.clear_estop()
        self.get_logger().warning(
            f"e-stop RELEASED by {by} (engaged by {was}); motion resumes with the next chunk"
        )
        self._publish_estop_state()
        return was

    def _publish_estop_state(self) -> None:
        self._pub_estop.publish(Bool(data=self.estopped))
        self._publish_diagnostics()

    def _publisher_of(self, topic: str, gid: bytes | None) -> str | None:
        """The node that published a sample (its GID matched against the graph), or None if unknown."""
        if gid:
            for ep in self.get_publishers_info_by_topic(topic):
                if bytes(ep.endpoint_gid) == bytes(gid)[: len(ep.endpoint_gid)]:
                    return _node_of(ep)
        return None

    def _callers(self, service: str) -> str:
        """Nodes with a client for ``service`` (std_srvs/Trigger carries no caller): one of them called."""
        found = []
        for name, namespace in self.get_node_names_and_namespaces():
            try:
                clients = self.get_client_names_and_types_by_node(name, namespace)
            except Exception:  # a node that left the graph meanwhile
                continue
            if any(c == service for c, _ in clients):
                found.append(f"{namespace.rstrip('/')}/{name}")
        return " or ".join(found) if found else "unknown"

    # ------------------------------------------------------------------ outputs
    def _send(self, cmd: JointCommand) -> None:
        if not cmd.accepted:
            self.rejected += 1
            what = "STOP (controller's own stop)" if cmd.is_stop else "HOLD"
            self.get_logger().warning(
                f"{what} ({cmd.reason_code}): {cmd.reason}", throttle_duration_sec=1.0
            )
            self._pub_reject.publish(String(data=cmd.reason_code))
        if not cmd.publish:
            return
        if self._pub_forward is not None:  # streaming: a target or a hold is one position vector
            if cmd.positions.shape[0]:  # a STOP sends nothing: the controller keeps its last, checked, target
                self._pub_forward.publish(Float64MultiArray(data=[float(x) for x in cmd.positions[-1]]))
        else:
            self._pub_traj.publish(command_to_msg(cmd))
            if cmd.gripper is not None:
                self._pub_grip.publish(Float64MultiArray(data=[float(cmd.gripper)]))
        self.published.append(cmd)
        del self.published[:-200]

    def _publish_diagnostics(self) -> None:
        guard = self._commander.guard
        j = self._joints
        values = {
            "estop_engaged": str(guard.estopped).lower(),
            "estop_reason": guard.estop_reason or "",
            "dry_run": str(self._config.dry_run).lower(),
            "safety_enabled": str(self._config.enabled).lower(),
            "mode": self._p["mode"],
            "holding": str(self._commander.holding).lower(),
            "joint_velocity_source": j.velocity_source if j is not None else "no joint states",
            "rejected_total": str(self.rejected),
            "dropped_inputs_total": str(self._guard.total),
        }
        values.update({f"rejections.{k}": str(v) for k, v in guard.rejections.items()})
        values.update({f"dropped.{k}": str(v) for k, v in self._guard.counts.items()})
        if guard.estopped:
            level, message = DiagnosticStatus.ERROR, f"E-STOP engaged: {guard.estop_reason}"
        elif self._commander.holding or self._guard.total:
            level, message = DiagnosticStatus.WARN, "holding" if self._commander.holding else "inputs dropped"
        else:
            level, message = DiagnosticStatus.OK, "ok"
        status = DiagnosticStatus(
            level=level, name="commander: safety", message=message, hardware_id="ur10e",
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = ns_to_stamp(self._now_ns())
        self._pub_diag.publish(array)


def main(args: list[str] | None = None) -> int:
    return run_node(CommanderNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
