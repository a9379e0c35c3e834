"""tracker: 3D objects → tracks with stable IDs (Kalman + Hungarian, in the core).

Output stamp = the camera stamp; the trail gains a ``track`` stage. Frames older than the last one
(out-of-order delivery) are skipped with a log, never fed backwards in time to the filter.
"""

from __future__ import annotations

import time
from typing import Any

from rclpy.node import Node

from visuomotor.errors import VisuomotorError
from visuomotor.latency import StageTiming
from visuomotor.tracking import HungarianTracker, TrackerConfig
from visuomotor_interfaces.msg import Object3DArray, TrackArray
from visuomotor_ros.convert import object_from_msg, stamp_to_ns, timings_to_msg, track_to_msg, trail_from_msg
from visuomotor_ros.params import declare_flat, reject_unknown_parameters
from visuomotor_ros.qos import STATE
from visuomotor_ros.runner import run_node

__all__ = ["TrackerNode", "main"]

NODE_DEFAULTS: dict[str, Any] = {
    "topics.objects": "/visuomotor/objects",
    "topics.tracks": "/visuomotor/tracks",
}


class TrackerNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("tracker", **kwargs)
        cfg_values = declare_flat(self, TrackerConfig().to_flat_dict())
        p = declare_flat(self, NODE_DEFAULTS)
        reject_unknown_parameters(self)
        self._config = TrackerConfig.from_flat(cfg_values)
        self._tracker = HungarianTracker(self._config)
        self._last_stamp_ns = -1
        self.frames = 0
        self._pub = self.create_publisher(TrackArray, p["topics.tracks"], STATE)
        self.create_subscription(Object3DArray, p["topics.objects"], self._on_objects, STATE)

    def _on_objects(self, msg: Object3DArray) -> None:
        start = time.monotonic_ns()
        stamp = stamp_to_ns(msg.header.stamp)
        if stamp <= self._last_stamp_ns:
            self.get_logger().warning(
                f"skipping objects stamped {stamp} ns: not after the last frame ({self._last_stamp_ns} ns)",
                throttle_duration_sec=2.0,
            )
            return
        try:
            objects = [object_from_msg(o, msg.header.frame_id) for o in msg.objects]
            tracks = self._tracker.update(objects, stamp)
            trail = trail_from_msg(msg).appended(StageTiming("track", start, time.monotonic_ns()))
        except VisuomotorError as err:
            self.get_logger().warning(f"skipping a frame: {err}", throttle_duration_sec=2.0)
            return
        self._last_stamp_ns = stamp
        out = TrackArray()
        out.header.stamp = msg.header.stamp
        out.header.frame_id = self._config.frame_id
        out.tracks = [track_to_msg(t) for t in tracks]
        out.timings = timings_to_msg(trail.timings)
        self._pub.publish(out)
        self.frames += 1


def main(args: list[str] | None = None) -> int:
    return run_node(TrackerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
