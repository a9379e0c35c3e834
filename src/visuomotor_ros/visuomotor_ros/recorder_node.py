"""recorder: chosen topics of the graph → a rosbag2 bag (MCAP), like ``ros2 bag record`` without rosbag2.

Subscribes raw (serialised CDR, never deserialised) to each topic as soon as a publisher appears, with
the QoS its publishers offer (reliable only when all are, transient-local only when all are, as rosbag2
adapts), and hands the bytes to one writer thread (:class:`visuomotor.bag.BagWriter`). Each topic's
offered QoS profiles go into the bag, so ``ros2 bag play`` and our ``replay`` re-offer them. Log time is
the node's clock at reception (sim time under ``use_sim_time``). On SIGINT or SIGTERM (``docker stop``,
systemd) the queue is drained and the bag closed: the index and ``metadata.yaml`` are written and the bag is
valid; further signals while it closes are ignored. Killed outright (SIGKILL), the bag keeps what was synced
— the writer syncs (closes its MCAP chunk / commits sqlite3) at least every ``sync_period_s`` — and
``visuomotor bag repair`` makes it readable.

Parameters (``config/recorder.yaml``): ``output`` (the bag directory to create; "" =
``rosbag2_<date>-<time>``), ``topics`` (empty = every topic but ``/rosout`` and ``/parameter_events``),
``exclude``, ``storage`` (``mcap`` | ``sqlite3``), ``discovery_period_s``, ``queue_depth``,
``sync_period_s``.
"""

from __future__ import annotations

import importlib
import queue
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.topic_endpoint_info import TopicEndpointInfo
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

from visuomotor.bag import STORAGES, BagError, BagWriter
from visuomotor.errors import ConfigError
from visuomotor_ros.params import declare_flat, reject_unknown_parameters
from visuomotor_ros.runner import run_node

__all__ = ["RecorderNode", "main", "message_class", "offered_qos", "subscription_qos"]

NODE_DEFAULTS: dict[str, Any] = {
    "output": "",
    "topics": [],
    "exclude": [],
    "storage": "mcap",
    "discovery_period_s": 0.5,
    "queue_depth": 20,
    "sync_period_s": 1.0,
}
_NEVER_BY_DEFAULT = ("/rosout", "/parameter_events")


def message_class(msgtype: str) -> type:
    """The rclpy message class of ``pkg/msg/Name`` (imported from ``pkg.msg``).

    Raises:
        ConfigError: the package is not importable or has no such message (source its workspace).
    """
    pkg, sep, name = msgtype.partition("/msg/")
    if not sep or not pkg or not name:
        raise ConfigError(f"{msgtype!r} is not a message type name (pkg/msg/Name)")
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ImportError, AttributeError) as err:
        raise ConfigError(
            f"message type {msgtype} is not available here ({err}): install its package and source the "
            "workspace that has it"
        ) from err


def _qos_time(duration: Any) -> QosTime:
    sec, nsec = divmod(int(duration.nanoseconds), 1_000_000_000)
    return QosTime(sec, nsec)


def offered_qos(info: TopicEndpointInfo) -> Qos:
    """A publisher's QoS as rosbag2 stores it (rmw and rosbags number the policies alike)."""
    q = info.qos_profile
    return Qos(
        QosHistory(int(q.history)),
        int(q.depth),
        QosReliability(int(q.reliability)),
        QosDurability(int(q.durability)),
        _qos_time(q.deadline),
        _qos_time(q.lifespan),
        QosLiveliness(int(q.liveliness)),
        _qos_time(q.liveliness_lease_duration),
        bool(q.avoid_ros_namespace_conventions),
    )


def subscription_qos(offered: Sequence[Qos], depth: int) -> QoSProfile:
    """A profile that matches every offered one: reliable/transient-local only when all publishers are."""
    reliable = bool(offered) and all(q.reliability == QosReliability.RELIABLE for q in offered)
    latched = bool(offered) and all(q.durability == QosDurability.TRANSIENT_LOCAL for q in offered)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


class RecorderNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("recorder", **kwargs)
        p = declare_flat(self, NODE_DEFAULTS)
        reject_unknown_parameters(self)
        if p["storage"] not in STORAGES:
            raise ConfigError(f"storage must be one of {sorted(STORAGES)}, got {p['storage']!r}")
        if not p["discovery_period_s"] > 0:
            raise ConfigError(f"discovery_period_s must be positive, got {p['discovery_period_s']}")
        if int(p["queue_depth"]) < 1:
            raise ConfigError(f"queue_depth must be ≥ 1, got {p['queue_depth']}")
        if not p["sync_period_s"] > 0:
            raise ConfigError(f"sync_period_s must be positive, got {p['sync_period_s']}")
        output = p["output"] or time.strftime("rosbag2_%Y_%m_%d-%H_%M_%S")
        self._wanted = {self.resolve_topic_name(t) for t in p["topics"]}
        self._exclude = {self.resolve_topic_name(t) for t in p["exclude"]}
        self._depth = int(p["queue_depth"])
        self._sync_period_s = float(p["sync_period_s"])
        # Refuses an existing directory. What a SIGKILL can cost: the last sync_period_s (or MCAP chunk).
        self._writer = BagWriter(Path(output), storage=p["storage"], sync_period_s=self._sync_period_s)
        self._writer.open()
        self.path = self._writer.path
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._subscribed: dict[str, str] = {}
        self._failed: set[str] = set()
        self._lock = threading.Lock()  # guards the counters read by close()
        self.received = 0
        self.written = 0
        self._closed = False
        self._thread = threading.Thread(target=self._write_loop, name="bag-writer", daemon=True)
        self._thread.start()
        self.create_timer(p["discovery_period_s"], self._discover)
        what = ", ".join(sorted(self._wanted)) if self._wanted else "all topics"
        self.get_logger().info(f"recording {what} into {self.path} ({p['storage']})")
        self._discover()

    # ------------------------------------------------------------------ discovery (executor thread)
    def _wants(self, topic: str) -> bool:
        if topic in self._exclude or topic in self._subscribed or topic in self._failed:
            return False
        if self._wanted:
            return topic in self._wanted
        return topic not in _NEVER_BY_DEFAULT and not any(part.startswith("_") for part in topic.split("/"))

    def _discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if not self._wants(topic):
                continue
            publishers = self.get_publishers_info_by_topic(topic)
            if not publishers:  # subscribers only: wait for a publisher to learn the QoS it offers
                continue
            if len(types) != 1:
                self._failed.add(topic)
                self.get_logger().error(f"not recording {topic}: it carries several types {types}")
                continue
            msgtype = types[0]
            try:
                cls = message_class(msgtype)
            except ConfigError as err:
                self._failed.add(topic)
                self.get_logger().error(f"not recording {topic}: {err}")
                continue
            qos = [offered_qos(info) for info in publishers]
            # The writer thread adds the topic before any of its messages (one FIFO queue).
            self._queue.put(("topic", topic, msgtype, qos))
            self.create_subscription(
                cls,
                topic,
                lambda data, t=topic: self._on_message(t, data),
                subscription_qos(qos, self._depth),
                raw=True,
            )
            self._subscribed[topic] = msgtype
            self.get_logger().info(f"recording {topic} ({msgtype})")

    def _on_message(self, topic: str, data: bytes) -> None:
        self._queue.put(("msg", topic, self.get_clock().now().nanoseconds, data))
        with self._lock:
            self.received += 1

    # ------------------------------------------------------------------ writing (own thread)
    def _write_loop(self) -> None:
        while True:
            try:
                # Wake at least every half period when idle, so the last messages of a quiet spell are
                # synced too (a chunk otherwise stays open until the next message).
                item = self._queue.get(timeout=self._sync_period_s / 2)
            except queue.Empty:
                item = ()
            if item is None:
                return
            if item:
                self._write(item)
            try:
                self._writer.sync_if_due()
            except BagError as err:
                self.get_logger().error(f"cannot sync {self.path}: {err}")

    def _write(self, item: tuple[Any, ...]) -> None:
        kind, topic = item[0], item[1]
        if topic in self._failed:
            return
        try:
            if kind == "topic":
                self._writer.add_topic(topic, item[2], item[3])
            else:
                self._writer.write_raw(topic, item[2], item[3])
                with self._lock:
                    self.written += 1
        except BagError as err:
            self._failed.add(topic)
            self.get_logger().error(f"stopped recording {topic}: {err}")

    def close(self) -> None:
        """Drain the queue and close the bag (index + metadata.yaml). Idempotent.

        From the main thread, SIGINT and SIGTERM are ignored meanwhile: a second Ctrl-C (or a SIGTERM to
        the process group after the one to the node) must not interrupt the close and lose the index.
        """
        if self._closed:
            return
        self._closed = True
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._queue.put(None)
            self._thread.join()
            self._writer.close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        counts = self._writer.message_counts
        # print, not the ROS logger: after a signal the context is shut down and /rosout is gone.
        print(
            f"[recorder] closed {self.path}: {sum(counts.values())} messages on {len(counts)} topics",
            flush=True,
        )


def main(args: list[str] | None = None) -> int:
    return run_node(RecorderNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
