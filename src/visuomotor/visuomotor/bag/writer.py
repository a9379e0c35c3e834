"""Write rosbag2 bags (MCAP by default) that stock ``ros2 bag play`` / ``ros2 bag info`` read.

A thin layer over :class:`rosbags.rosbag2.Writer`:

- rosbag2 format version 9, what Jazzy and Kilted write (QoS profiles as a YAML list of named values,
  ``type_description_hash`` per topic; both read it);
- MCAP storage with each type's full ``ros2msg`` definition as its schema (dependencies after ``MSG:``
  separators, as rosbag2_storage_mcap writes them), from our typestore (:mod:`visuomotor.bag.typestore`);
- per-topic offered QoS profiles (what ``ros2 bag play`` re-offers), in ``metadata.yaml`` and in each MCAP
  channel's ``offered_qos_profiles`` metadata string;
- messages given as rosbags message objects (serialised here) or as CDR bytes (the recorder's raw
  subscriptions).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from rosbags.interfaces import (
    Connection,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
from rosbags.typesys.store import Typestore

from visuomotor.bag.errors import BagError
from visuomotor.bag.typestore import bag_typestore, ensure_type

__all__ = [
    "BAG_VERSION",
    "LATCHED_QOS",
    "SENSOR_QOS",
    "STATE_QOS",
    "STORAGES",
    "BagWriter",
    "qos_profile",
]

#: rosbag2 metadata version written (Jazzy and Kilted write 9).
BAG_VERSION = 9
#: storage name → rosbags plugin
STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}

# rmw's "infinite" duration as rosbag2 serialises it (RMW_DURATION_INFINITE = 2^63 - 1 ns).
_INFINITE = QosTime(9223372036, 854775807)


def qos_profile(*, reliable: bool, transient_local: bool = False, depth: int = 10) -> Qos:
    """An offered QoS profile (keep last ``depth``) as rosbag2 stores it per topic."""
    return Qos(
        QosHistory.KEEP_LAST,
        depth,
        QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
        _INFINITE,
        _INFINITE,
        QosLiveliness.AUTOMATIC,
        _INFINITE,
        False,
    )


# The profiles of visuomotor_ros/qos.py, for bags written without a live graph.
SENSOR_QOS = qos_profile(reliable=False, depth=2)
STATE_QOS = qos_profile(reliable=True, depth=10)
LATCHED_QOS = qos_profile(reliable=True, transient_local=True, depth=1)


class BagWriter:
    """A new rosbag2 bag directory; use as a context manager (``close()`` writes the index and metadata).

    Example::

        with BagWriter(Path("run1")) as bag:
            bag.add_topic("/camera/camera/color/image_raw", "sensor_msgs/msg/Image", [SENSOR_QOS])
            bag.write("/camera/camera/color/image_raw", stamp_ns, image_msg)

    Not thread-safe: one writer thread (the recorder queues messages to one).
    """

    def __init__(
        self, path: str | Path, *, typestore: Typestore | None = None, storage: str = "mcap"
    ) -> None:
        """Prepare a bag at ``path`` (a directory that must not exist yet).

        Raises:
            BagError: ``path`` exists, or ``storage`` is not one of ``STORAGES``.
        """
        self.path = Path(path)
        if storage not in STORAGES:
            raise BagError(f"bag storage must be one of {sorted(STORAGES)}, got {storage!r}")
        if self.path.exists():
            raise BagError(
                f"{self.path} exists already: choose a new output directory (bags are never overwritten)"
            )
        self.typestore = typestore if typestore is not None else bag_typestore()
        self.storage = storage
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        self._connections: dict[str, Connection] = {}
        self._counts: dict[str, int] = {}
        self._open = False

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> BagWriter:
        try:
            self._writer.open()
        except (WriterError, OSError) as err:
            raise BagError(f"cannot create the bag {self.path}: {err}") from err
        self._open = True
        return self

    def close(self) -> None:
        """Write the storage index and ``metadata.yaml``; the bag is complete afterwards. Idempotent."""
        if not self._open:
            return
        self._open = False
        try:
            self._writer.close()
        except (WriterError, OSError) as err:
            raise BagError(f"cannot finish the bag {self.path}: {err}") from err

    def __enter__(self) -> BagWriter:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Close even on an error: what was written stays a valid, indexed bag.
        self.close()

    # ------------------------------------------------------------------ topics and messages
    @property
    def topics(self) -> dict[str, str]:
        """topic → message type of the topics added so far."""
        return {t: c.msgtype for t, c in self._connections.items()}

    @property
    def message_counts(self) -> dict[str, int]:
        """topic → messages written so far."""
        return dict(self._counts)

    def add_topic(self, topic: str, msgtype: str, qos: Sequence[Qos] = (), msgdef: str = "") -> None:
        """Declare a topic before writing to it.

        Args:
            topic: absolute topic name.
            msgtype: ``pkg/msg/Name``.
            qos: the QoS profiles its publishers offered (one per publisher; may be empty).
            msgdef: the type's ``ros2msg`` definition when the typestore does not know it.

        Raises:
            BagError: the bag is not open, the topic exists with another type, or the type is unknown.
        """
        if not self._open:
            raise BagError(f"bag {self.path} is not open: use it as a context manager or call open()")
        if topic in self._connections:
            have = self._connections[topic].msgtype
            if have != msgtype:
                raise BagError(f"topic {topic} is already in the bag as {have}, cannot add it as {msgtype}")
            return
        ensure_type(self.typestore, msgtype, msgdef)
        try:
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=self.typestore, offered_qos_profiles=list(qos)
            )
        except WriterError as err:
            raise BagError(f"cannot add topic {topic} ({msgtype}) to {self.path}: {err}") from err
        self._counts[topic] = 0

    def write(self, topic: str, timestamp_ns: int, message: Any) -> None:
        """Serialise a rosbags message object (of the topic's type) and write it at ``timestamp_ns``."""
        conn = self._connection(topic)
        self.write_raw(topic, timestamp_ns, self.typestore.serialize_cdr(message, conn.msgtype))

    def write_raw(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        """Write CDR bytes (little-endian, with the 4-byte encapsulation header) at ``timestamp_ns``."""
        conn = self._connection(topic)
        try:
            self._writer.write(conn, int(timestamp_ns), data)
        except (WriterError, OSError) as err:
            raise BagError(f"cannot write to {topic} in {self.path}: {err}") from err
        self._counts[topic] += 1

    def _connection(self, topic: str) -> Connection:
        if not self._open:
            raise BagError(f"bag {self.path} is not open: use it as a context manager or call open()")
        conn = self._connections.get(topic)
        if conn is None:
            raise BagError(f"topic {topic} was not added to {self.path}: call add_topic() first")
        return conn
