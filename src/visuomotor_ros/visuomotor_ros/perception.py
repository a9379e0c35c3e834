"""perception: detector + localiser + tracker + latency monitor (+ overlay) composed in one process.

Each node is the same class that runs alone (``detector``, ``localiser``, ``tracker``, ...); here they
share one process and one multi-threaded executor, so the detector's inference never blocks the
localiser and tracker callbacks. Parameters come from params files with one section per node name:

    perception --ros-args --params-file config/detector.yaml --params-file config/localiser.yaml \\
        --params-file config/tracker.yaml --params-file config/perception.yaml
"""

from __future__ import annotations

import sys
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node

from visuomotor.errors import VisuomotorError
from visuomotor_ros.detector_node import DetectorNode
from visuomotor_ros.latency_monitor import LatencyMonitorNode
from visuomotor_ros.localiser_node import LocaliserNode
from visuomotor_ros.overlay_node import OverlayNode
from visuomotor_ros.tracker_node import TrackerNode

__all__ = ["PERCEPTION_NODES", "main"]

PERCEPTION_NODES: tuple[type[Node], ...] = (DetectorNode, LocaliserNode, TrackerNode, OverlayNode,
                                            LatencyMonitorNode)


def main(args: list[str] | None = None, threads: int = 4) -> int:
    """Run the composed pipeline until SIGINT/SIGTERM; exit code 2 on a configuration error."""
    rclpy.init(args=args if args is not None else sys.argv)
    nodes: list[Any] = []
    code = 0
    try:
        for cls in PERCEPTION_NODES:
            nodes.append(cls())
        executor = MultiThreadedExecutor(threads)
        for node in nodes:
            executor.add_node(node)
        try:
            executor.spin()
        finally:
            executor.shutdown()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except VisuomotorError as err:
        print(f"[perception] error: {err}", file=sys.stderr)
        code = 2
    finally:
        for node in reversed(nodes):
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
