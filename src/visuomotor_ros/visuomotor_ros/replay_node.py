"""replay: publish a bag's messages into the graph on their recorded schedule, like ``ros2 bag play``.

Messages go out as recorded — serialised CDR handed to ``Publisher.publish(bytes)``, never deserialised,
header stamps unchanged — at their log-time spacing divided by ``rate``, from ``start_offset_s`` into the
bag. Each topic is offered with the QoS its publishers offered while recording (reliable only when all
were, transient-local only when all were); topics can be filtered and renamed. With ``clock`` the node
publishes ``/clock`` from bag time (run consumers with ``use_sim_time:=true``). The process exits when
the bag is done, unless ``loop``.

Parameters (``config/replay.yaml``): ``bag``, ``rate``, ``loop``, ``clock``, ``clock_rate_hz``,
``start_offset_s``, ``topics`` (empty = all), ``remap`` (``"from:=to"`` entries),
``wait_for_subscribers_s`` (before the first message, wait up to this long until every publisher, /clock
included, has a subscriber; 0 = start at once).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.interfaces import QosDurability, QosReliability
from rosgraph_msgs.msg import Clock

from visuomotor.bag import BagError, BagReader, TopicSummary
from visuomotor.errors import ConfigError
from visuomotor_ros.convert import ns_to_stamp
from visuomotor_ros.params import declare_flat, reject_unknown_parameters
from visuomotor_ros.qos import CLOCK
from visuomotor_ros.recorder_node import message_class
from visuomotor_ros.runner import run_node

__all__ = ["ReplayNode", "main", "parse_remaps", "publisher_qos"]

NODE_DEFAULTS: dict[str, Any] = {
    "bag": "",
    "rate": 1.0,
    "loop": False,
    "clock": False,
    "clock_rate_hz": 40.0,
    "start_offset_s": 0.0,
    "topics": [],
    "remap": [],
    "wait_for_subscribers_s": 0.0,
}


def parse_remaps(entries: list[str]) -> dict[str, str]:
    """``["/a:=/b", ...]`` → ``{"/a": "/b"}``; ConfigError naming a malformed entry."""
    out = {}
    for entry in entries:
        src, sep, dst = entry.partition(":=")
        if not sep or not src.strip() or not dst.strip():
            raise ConfigError(
                f"remap entry {entry!r} must read 'from:=to' (e.g. /camera/color/image_raw:=/cam)"
            )
        out[src.strip()] = dst.strip()
    return out


def publisher_qos(topic: TopicSummary) -> QoSProfile:
    """The profile to re-offer a recorded topic with (rosbag2's rule; reliable, keep last 10 when unknown)."""
    offered = topic.offered_qos
    reliable = not offered or all(q.reliability == QosReliability.RELIABLE for q in offered)
    latched = bool(offered) and all(q.durability == QosDurability.TRANSIENT_LOCAL for q in offered)
    depth = max([10, *(q.depth for q in offered)])
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


class ReplayNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("replay", **kwargs)
        p = declare_flat(self, NODE_DEFAULTS)
        reject_unknown_parameters(self)
        if not p["bag"]:
            raise ConfigError("parameter bag is empty: pass the bag directory (-p bag:=/path/to/bag)")
        for key in ("rate", "clock_rate_hz"):
            if not p[key] > 0:
                raise ConfigError(f"{key} must be positive, got {p[key]}")
        for key in ("start_offset_s", "wait_for_subscribers_s"):
            if not p[key] >= 0:
                raise ConfigError(f"{key} must be ≥ 0, got {p[key]}")
        self._p = p
        remaps = parse_remaps(list(p["remap"]))
        self._reader = BagReader(p["bag"]).open()
        topics = self._reader.topics
        for t in p["topics"]:
            self._reader.require_topic(t)
        chosen = list(p["topics"]) or list(topics)
        self._topic_pubs: dict[str, Publisher] = {}
        for name in chosen:
            try:
                cls = message_class(topics[name].msgtype)
            except ConfigError as err:
                if p["topics"]:  # asked for by name: refuse to start without it
                    raise
                self.get_logger().warning(f"skipping {name}: {err}")
                continue
            self._topic_pubs[name] = self.create_publisher(
                cls, remaps.get(name, name), publisher_qos(topics[name])
            )
        unknown = sorted(set(remaps) - set(self._topic_pubs))
        if unknown:
            raise ConfigError(f"remap names topics that are not replayed: {', '.join(unknown)}")
        self._clock_pub = self.create_publisher(Clock, "/clock", CLOCK) if p["clock"] else None
        self._stop = threading.Event()
        self._time_lock = threading.Lock()
        self._anchor: tuple[float, int] | None = None  # (wall monotonic s, bag ns) of the current pass
        self.published = 0
        if self._clock_pub is not None:
            self.create_timer(1.0 / p["clock_rate_hz"], self._publish_clock)
        self._thread = threading.Thread(target=self._play, name="replay", daemon=True)
        self._thread.start()
        renamed = f", remapped {remaps}" if remaps else ""
        self.get_logger().info(
            f"replaying {len(self._topic_pubs)} topics of {self._reader.path} at rate {p['rate']}{renamed}"
        )

    def bag_time_ns(self) -> int | None:
        """The bag time now (None before the first message)."""
        with self._time_lock:
            if self._anchor is None:
                return None
            wall0, bag0 = self._anchor
        return bag0 + round((time.monotonic() - wall0) * self._p["rate"] * 1e9)

    def _publish_clock(self) -> None:
        now = self.bag_time_ns()
        if now is not None and self._clock_pub is not None:
            self._clock_pub.publish(Clock(clock=ns_to_stamp(now)))

    def _wait_for_subscribers(self) -> None:
        pubs = dict(self._topic_pubs)
        if self._clock_pub is not None:
            pubs["/clock"] = self._clock_pub
        deadline = time.monotonic() + self._p["wait_for_subscribers_s"]
        while time.monotonic() < deadline and not self._stop.is_set():
            if all(pub.get_subscription_count() > 0 for pub in pubs.values()):
                return
            self._stop.wait(0.02)
        lonely = sorted(t for t, pub in pubs.items() if pub.get_subscription_count() == 0)
        if lonely:
            self.get_logger().info(f"starting without subscribers on {', '.join(lonely)}")

    # ------------------------------------------------------------------ playback (own thread)
    def _play(self) -> None:
        try:
            if self._p["wait_for_subscribers_s"] > 0:
                self._wait_for_subscribers()
            while not self._stop.is_set():
                self._play_once()
                if not self._p["loop"]:
                    break
            self.get_logger().info(f"bag done: published {self.published} messages")
        except BagError as err:
            self.get_logger().error(str(err))
        finally:
            # Done (or failed): end the process like `ros2 bag play` does.
            self.context.try_shutdown()

    def _play_once(self) -> None:
        start = self._reader.start_time_ns + round(self._p["start_offset_s"] * 1e9)
        rate = self._p["rate"]
        for m in self._reader.messages(set(self._topic_pubs), start):
            if self._stop.is_set():
                return
            with self._time_lock:
                if self._anchor is None:  # the first message of a pass sets the schedule
                    self._anchor = (time.monotonic(), m.log_time_ns)
                wall0, bag0 = self._anchor
            delay = wall0 + (m.log_time_ns - bag0) * 1e-9 / rate - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            self._topic_pubs[m.topic].publish(bytes(m.data))
            self.published += 1
        with self._time_lock:
            self._anchor = None

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)
        self._reader.close()


def main(args: list[str] | None = None) -> int:
    return run_node(ReplayNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
