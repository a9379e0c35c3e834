"""latency_monitor: per-stage, per-hop and end-to-end latency of every frame, reported at 1 Hz.

Sources of frames (counted for drops): the colour camera_info (one per frame, cheap to receive), and, when
present, the simulator's own trail (its render stage, prepended to the frame's trail). The end of the
pipeline is a topic whose messages carry ``header`` + ``timings`` (FrameTrail by default; a partial
pipeline can end at tracks or detections). Publishes ``LatencyReport`` and writes JSON on shutdown.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import String

from visuomotor.errors import ConfigError
from visuomotor.latency import FrameTrail, LatencyError, LatencyRecorder, LatencySummary
from visuomotor_interfaces import msg as vm_msg
from visuomotor_ros.convert import stamp_to_ns, summary_to_report, trail_from_msg
from visuomotor_ros.params import declare_flat, reject_unknown_parameters
from visuomotor_ros.qos import SENSOR, STATE
from visuomotor_ros.runner import run_node

__all__ = ["LatencyMonitorNode", "main"]

END_TYPES = ("FrameTrail", "Detection2DArray", "Object3DArray", "TrackArray", "ActionChunk")

DEFAULTS: dict[str, Any] = {
    "source_topic": "/camera/camera/color/camera_info",
    "source_trail_topic": "/sim/frame_trail",
    "end_topic": "/visuomotor/frame_trail",
    "end_type": "FrameTrail",
    "report_topic": "/visuomotor/latency",
    "rejection_topic": "/visuomotor/rejections",
    "report_period_s": 1.0,
    "drop_horizon_s": 2.0,
    "json_path": "",
    "print_table": True,
}


class LatencyMonitorNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("latency_monitor", **kwargs)
        p = declare_flat(self, DEFAULTS)
        reject_unknown_parameters(self)
        if p["end_type"] not in END_TYPES:
            raise ConfigError(f"end_type must be one of {END_TYPES}, got {p['end_type']!r}")
        if p["report_period_s"] <= 0 or p["drop_horizon_s"] <= 0:
            raise ConfigError("report_period_s and drop_horizon_s must be positive")
        self._params = p
        self._lock = threading.Lock()
        self._recorder = LatencyRecorder(drop_horizon_ns=int(p["drop_horizon_s"] * 1e9))
        # Source trails (e.g. the sim's render stage) waiting for their frame to reach the end; bounded.
        self._source_trails: dict[int, FrameTrail] = {}
        self._source_window = 512
        self._pending_ends: dict[int, tuple[FrameTrail, int]] = {}
        self._pending_wait_ns = 500_000_000

        self.create_subscription(CameraInfo, p["source_topic"], self._on_source, SENSOR)
        if p["source_trail_topic"]:
            self.create_subscription(vm_msg.FrameTrail, p["source_trail_topic"], self._on_source_trail, STATE)
        self.create_subscription(getattr(vm_msg, p["end_type"]), p["end_topic"], self._on_end, STATE)
        if p["rejection_topic"]:
            self.create_subscription(String, p["rejection_topic"], self._on_rejection, STATE)
        self._pub = self.create_publisher(vm_msg.LatencyReport, p["report_topic"], STATE)
        self.create_timer(p["report_period_s"], self._report)
        self.get_logger().info(
            f"monitoring {p['source_topic']} → {p['end_topic']} ({p['end_type']}), "
            f"report on {p['report_topic']}"
        )

    def _on_rejection(self, msg: String) -> None:
        with self._lock:
            self._recorder.rejected(msg.data or "unspecified")

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
            summary.write_json(Path(self._params["json_path"]))

    def close(self) -> None:
        """Write the JSON report and print the table (called once on shutdown)."""
        with self._lock:
            self._flush_pending(time.monotonic_ns())
        summary = self.summary()
        if self._params["json_path"]:
            path = Path(self._params["json_path"])
            summary.write_json(path)
            self.get_logger().info(f"latency report written to {path}")
        if self._params["print_table"]:
            print(summary.format_table(), flush=True)


def main(args: list[str] | None = None) -> int:
    return run_node(LatencyMonitorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
