"""latency_monitor: per-stage, per-hop and end-to-end latency of every frame, reported at 1 Hz.

Sources of frames (counted for drops): the colour camera_info (one per frame, cheap to receive), and, when
present, the simulator's own trail (its render stage, prepended to the frame's trail). The end of the
pipeline is a topic whose messages carry ``header`` + ``timings`` (FrameTrail by default; a partial
pipeline can end at tracks or detections). Publishes ``LatencyReport`` and writes JSON on shutdown.

It also follows the commander's latched e-stop state (``estop_state_topic``): every change is logged, and
the JSON (``estop``: engaged, changes, engaged time) and the printed table show it. Every callback is
guarded: a malformed message is counted (``dropped_inputs`` in the JSON), logged and dropped.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Bool, String

from visuomotor.config import require_int_range
from visuomotor.errors import ConfigError
from visuomotor.latency import FrameTrail, LatencyError, LatencyRecorder, LatencySummary
from visuomotor_interfaces import msg as vm_msg
from visuomotor_ros.convert import stamp_to_ns, summary_to_report, trail_from_msg
from visuomotor_ros.guard import CallbackGuard
from visuomotor_ros.params import declare_flat, reject_unknown_parameters, require_range
from visuomotor_ros.qos import LATCHED, SENSOR, STATE
from visuomotor_ros.runner import run_node

__all__ = ["LatencyMonitorNode", "main"]

END_TYPES = ("FrameTrail", "Detection2DArray", "Object3DArray", "TrackArray", "ActionChunk")

NODE_DEFAULTS: dict[str, Any] = {
    "source_topic": "/camera/camera/color/camera_info",
    "source_trail_topic": "/sim/frame_trail",
    "end_topic": "/visuomotor/frame_trail",
    "end_type": "FrameTrail",
    "report_topic": "/visuomotor/latency",
    "rejection_topic": "/visuomotor/rejections",
    "estop_state_topic": "/visuomotor/estop_state",
    "report_period_s": 1.0,
    "drop_horizon_s": 2.0,
    # Statistics over the newest N samples per series (8 bytes each): a node that runs for days must not
    # grow (the 30-minute soak measured +5 % RSS keeping every sample). 108000 = an hour of 30 Hz frames.
    "max_samples": 108000,
    "json_path": "",
    "print_table": True,
}


class LatencyMonitorNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("latency_monitor", **kwargs)
        p = declare_flat(self, NODE_DEFAULTS)
        reject_unknown_parameters(self)
        if p["end_type"] not in END_TYPES:
            raise ConfigError(f"end_type must be one of {END_TYPES}, got {p['end_type']!r}")
        require_range("report_period_s", p["report_period_s"], 0.01, 3600.0, "s")
        require_range("drop_horizon_s", p["drop_horizon_s"], 0.01, 3600.0, "s")
        require_int_range("max_samples", p["max_samples"], 100, 100_000_000)
        self._params = p
        self._lock = threading.Lock()
        self._recorder = LatencyRecorder(
            max_samples=p["max_samples"], drop_horizon_ns=int(p["drop_horizon_s"] * 1e9)
        )
        # Source trails (e.g. the sim's render stage) waiting for their frame to reach the end; bounded.
        self._source_trails: dict[int, FrameTrail] = {}
        self._source_window = 512
        self._pending_ends: dict[int, tuple[FrameTrail, int]] = {}
        self._pending_wait_ns = 500_000_000
        self._estop: bool | None = None  # None: no commander state seen
        self._estop_changes = 0
        self._estop_engaged_ns = 0  # total wall time engaged, ns
        self._estop_since_ns = 0

        g = self._guard = CallbackGuard(self)
        self.create_subscription(CameraInfo, p["source_topic"], g.wrap("source", self._on_source), SENSOR)
        if p["source_trail_topic"]:
            on_trail = g.wrap("source_trail", self._on_source_trail)
            self.create_subscription(vm_msg.FrameTrail, p["source_trail_topic"], on_trail, STATE)
        end_type = getattr(vm_msg, p["end_type"])
        self.create_subscription(end_type, p["end_topic"], g.wrap("end", self._on_end), STATE)
        if p["rejection_topic"]:
            on_rejection = g.wrap("rejection", self._on_rejection)
            self.create_subscription(String, p["rejection_topic"], on_rejection, STATE)
        if p["estop_state_topic"]:
            on_estop = g.wrap("estop_state", self._on_estop)
            self.create_subscription(Bool, p["estop_state_topic"], on_estop, LATCHED)
        self._pub = self.create_publisher(vm_msg.LatencyReport, p["report_topic"], STATE)
        self.create_timer(p["report_period_s"], g.wrap("report", self._report))
        self.get_logger().info(
            f"monitoring {p['source_topic']} → {p['end_topic']} ({p['end_type']}), "
            f"report on {p['report_topic']}"
        )

    def _on_rejection(self, msg: String) -> None:
        with self._lock:
            self._recorder.rejected(msg.data[:64] or "unspecified")

    def _on_estop(self, msg: Bool) -> None:
        now = time.monotonic_ns()
        with self._lock:
            if msg.data == self._estop:
                return
            if self._estop:
                self._estop_engaged_ns += now - self._estop_since_ns
            if self._estop is not None:
                self._estop_changes += 1
            self._estop, self._estop_since_ns = bool(msg.data), now
        if msg.data:
            self.get_logger().error("E-STOP engaged (commander): the arm holds")
        else:
            self.get_logger().info("e-stop released (commander)")

    def estop_report(self) -> dict[str, Any]:
        """The e-stop as seen on the commander's latched state: engaged (None if never seen), changes,
        seconds engaged so far."""
        with self._lock:
            engaged_ns = self._estop_engaged_ns
            if self._estop:
                engaged_ns += time.monotonic_ns() - self._estop_since_ns
            changes = self._estop_changes
            return {"engaged": self._estop, "changes": changes, "engaged_s": round(engaged_ns * 1e-9, 3)}

    def _on_source(self, msg: CameraInfo) -> None:
        with self._lock:
            self._recorder.frame_seen(stamp_to_ns(msg.header.stamp), time.monotonic_ns())

    def _on_source_trail(self, msg: vm_msg.FrameTrail) -> None:
        try:
            trail = trail_from_msg(msg)
        except LatencyError:
            return
        with self._lock:
            end = self._pending_ends.pop(trail.stamp_ns, None)
            if end is not None:
                self._record(trail, end[0])
                return
            self._source_trails[trail.stamp_ns] = trail
            if len(self._source_trails) > self._source_window:
                del self._source_trails[next(iter(self._source_trails))]

    def _on_end(self, msg: Any) -> None:
        try:
            trail = trail_from_msg(msg)
        except LatencyError as err:
            self.get_logger().warning(f"ignoring a malformed trail: {err}", throttle_duration_sec=5.0)
            with self._lock:
                self._recorder.rejected("malformed_trail")
            return
        if not trail.timings:
            return
        with self._lock:
            source = self._source_trails.pop(trail.stamp_ns, None)
            if source is not None or not self._params["source_trail_topic"]:
                self._record(source, trail)
            else:
                # The source trail can arrive after the frame's end (different publishers, no ordering
                # between topics): hold the end briefly, then record it alone.
                self._pending_ends[trail.stamp_ns] = (trail, time.monotonic_ns())
                self._flush_pending(time.monotonic_ns() - self._pending_wait_ns)

    def _record(self, source: FrameTrail | None, end: FrameTrail) -> None:
        # Prepend the source's stages when they precede the pipeline's (same host, same clock).
        if source and source.timings and source.timings[-1].end_ns <= end.timings[0].start_ns:
            end = source.extended(end.timings)
        self._recorder.record(end, time.monotonic_ns())

    def _flush_pending(self, older_than_ns: int) -> None:
        for stamp in [s for s, (_, t) in self._pending_ends.items() if t <= older_than_ns]:
            self._record(None, self._pending_ends.pop(stamp)[0])

    def summary(self) -> LatencySummary:
        with self._lock:
            self._flush_pending(time.monotonic_ns() - self._pending_wait_ns)
            # Move the drop clock even when no frame arrives (a stalled camera still ages frames).
            self._recorder.advance(time.monotonic_ns())
            return self._recorder.stats()

    def _report(self) -> None:
        summary = self.summary()
        self._pub.publish(summary_to_report(summary, self.get_clock().now().nanoseconds))
        if self._params["json_path"]:
            # Kept current every report, so a process killed before its shutdown still leaves the numbers.
            self._write_json(summary, Path(self._params["json_path"]))

    def _write_json(self, summary: LatencySummary, path: Path) -> None:
        """The summary's JSON plus the e-stop (``estop``) and the messages this monitor dropped."""
        data = {**summary.to_dict(), "estop": self.estop_report(), "dropped_inputs": self._guard.counts}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    def close(self) -> None:
        """Write the JSON report and print the table (called once on shutdown)."""
        with self._lock:
            self._flush_pending(time.monotonic_ns())
        summary = self.summary()
        if self._params["json_path"]:
            path = Path(self._params["json_path"])
            self._write_json(summary, path)
            self.get_logger().info(f"latency report written to {path}")
        if self._params["print_table"]:
            estop = self.estop_report()
            line = (
                "e-stop: not seen" if estop["engaged"] is None
                else f"e-stop: {'ENGAGED' if estop['engaged'] else 'released'} ({estop['changes']} changes, "
                f"{estop['engaged_s']:.1f} s engaged)"
            )
            print(f"{summary.format_table()}\n{line}", flush=True)


def main(args: list[str] | None = None) -> int:
    return run_node(LatencyMonitorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
