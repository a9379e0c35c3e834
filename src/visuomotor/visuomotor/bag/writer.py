"""Write rosbag2 bags (MCAP by default) that stock ``ros2 bag play`` / ``ros2 bag info`` read.

A thin layer over :class:`rosbags.rosbag2.Writer`:

- rosbag2 format version 9, what Jazzy and Kilted write (QoS profiles as a YAML list of named values,
  ``type_description_hash`` per topic; both read it);
- MCAP storage with each type's full ``ros2msg`` definition as its schema (dependencies after ``MSG:``
  separators, as rosbag2_storage_mcap writes them), from our typestore (:mod:`visuomotor.bag.typestore`);
- per-topic offered QoS profiles (what ``ros2 bag play`` re-offers), in ``metadata.yaml`` and in each MCAP
  channel's ``offered_qos_profiles`` metadata string;
- messages given as rosbags message objects (serialised here) or as CDR bytes (the recorder's raw
  subscriptions);
- a bag that survives a kill: MCAP chunks are bounded in size (``chunk_bytes``) and age (``sync_period_s``),
  carry their CRC-32 and reach the file as soon as they close, so a SIGKILL loses at most the open chunk
  (``visuomotor bag repair`` rebuilds the index); sqlite3 runs in WAL mode and commits at least every
  ``sync_period_s`` (or every ``commit_messages`` messages), so a SIGKILL loses at most the last interval.
"""

from __future__ import annotations

import sqlite3
import time
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from rosbags.interfaces import (
    Connection,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import CompressionMode, StoragePlugin, Writer, WriterError
from rosbags.rosbag2.storage_mcap import McapWriter
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer
from rosbags.typesys.store import Typestore

from visuomotor.bag.errors import BagError
from visuomotor.bag.typestore import bag_typestore, ensure_type

__all__ = [
    "BAG_VERSION",
    "CHUNK_BYTES",
    "COMMIT_MESSAGES",
    "LATCHED_QOS",
    "SENSOR_QOS",
    "STATE_QOS",
    "STORAGES",
    "SYNC_PERIOD_S",
    "BagWriter",
    "qos_profile",
]

#: rosbag2 metadata version written (Jazzy and Kilted write 9).
BAG_VERSION = 9
#: storage name → rosbags plugin
STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}

#: MCAP chunk size bound (uncompressed bytes); rosbags' own bound (1 MiB) is the most it can be.
CHUNK_BYTES = 1 << 20
#: the longest an MCAP chunk stays open / a sqlite3 transaction stays uncommitted (wall clock), s
SYNC_PERIOD_S = 1.0
#: sqlite3 commits at least every this many messages
COMMIT_MESSAGES = 1000

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


# ---------------------------------------------------------------------- storages that survive a kill
# rosbags' storage writers, with what a recording needs on top. rosbags keeps the MCAP record layout; these
# subclasses only bound and flush chunks, fill in the chunk CRC rosbags leaves 0, and commit sqlite3 often.


class _McapStorage(McapWriter):
    """rosbags' MCAP writer + bounded chunks that reach the file (with their CRC-32) when they close.

    rosbags holds the open chunk in memory and closes it at 1 MiB, writes every chunk's CRC as 0 ("none", so
    a reader cannot tell flipped bytes from data) and leaves the file to Python's buffer. Here a chunk closes
    at ``chunk_bytes`` or when it has been open ``sync_period_s`` (checked on every write and by
    :meth:`sync_if_due`), its CRC is patched in and the file flushed: a killed recording keeps every closed
    chunk, whole and checkable (``visuomotor bag repair`` writes the index the kill did not).
    """

    def __init__(self, path: Path, compression: CompressionMode) -> None:
        super().__init__(path, compression)
        self.chunk_bytes = CHUNK_BYTES
        self.sync_period_s = SYNC_PERIOD_S
        self._opened_at: float | None = None  # monotonic time of the open chunk's first message
        self.bio.flush()  # magic + header on disk: a killed bag is still recognisably MCAP

    def write(self, connection: Connection, timestamp: int, data: bytes | memoryview) -> None:
        if self._opened_at is None:
            self._opened_at = time.monotonic()
        super().write(connection, timestamp, data)  # closes the chunk itself past 1 MiB
        if self.chunk.msgs and self.chunk.bio.tell() >= self.chunk_bytes:
            self.close_chunk()
        else:
            self.sync_if_due()

    def sync_if_due(self) -> None:
        if self._opened_at is not None and time.monotonic() - self._opened_at >= self.sync_period_s:
            self.sync()

    def sync(self) -> None:
        """Close the open chunk if it holds messages (its records reach the file)."""
        if self.chunk.msgs:
            self.close_chunk()

    def close_chunk(self) -> None:
        with self.chunk.bio.getbuffer() as raw:  # released before rosbags touches the buffer again
            crc = zlib.crc32(raw)
        start = self.bio.tell()
        super().close_chunk()
        end = self.bio.tell()
        # Chunk record: opcode (1) + length (8) + message_start_time, message_end_time, uncompressed_size
        # (8 each), then uncompressed_crc (4): patch the 0 rosbags wrote.
        self.bio.seek(start + 33)
        self.bio.write(crc.to_bytes(4, "little"))
        self.bio.seek(end)
        self.bio.flush()
        self._opened_at = None


class _Sqlite3Storage(Sqlite3Writer):
    """rosbags' sqlite3 writer in WAL mode, committing every ``sync_period_s`` / ``commit_messages``.

    rosbags commits once, at close: a killed recording kept no message. In WAL mode a commit is an append
    to ``<bag>.db3-wal`` (``synchronous=NORMAL``: no fsync per commit), uncommitted data never touches the
    database, and opening the database replays the committed log (``visuomotor bag repair`` does, then
    writes metadata.yaml). Closing switches back to a rollback journal, so a closed bag is one ``.db3``.
    """

    def __init__(self, path: Path, compression: CompressionMode) -> None:
        super().__init__(path, compression)  # creates the tables (committed)
        # rosbags' connection may be used only by the thread that opened the bag; the recorder opens it
        # in its node and writes from its writer thread (never both at once: BagWriter has one user).
        self.conn.close()
        self.conn = sqlite3.connect(f"file:{self.path}", uri=True, check_same_thread=False)
        self.cursor = self.conn.cursor()
        self.sync_period_s = SYNC_PERIOD_S
        self.commit_messages = COMMIT_MESSAGES
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self._pending = 0
        self._first_pending: float | None = None

    def add_connection(self, connection: Connection, offered_qos_profiles: str) -> None:
        super().add_connection(connection, offered_qos_profiles)
        self.sync()  # a topic (and its type) is on disk before any of its messages can be

    def write(self, connection: Connection, timestamp: int, data: bytes | memoryview) -> None:
        super().write(connection, timestamp, data)
        self._pending += 1
        if self._first_pending is None:
            self._first_pending = time.monotonic()
        if self._pending >= self.commit_messages:
            self.sync()
        else:
            self.sync_if_due()

    def sync_if_due(self) -> None:
        if self._first_pending is not None and time.monotonic() - self._first_pending >= self.sync_period_s:
            self.sync()

    def sync(self) -> None:
        """Commit what was written."""
        self.conn.commit()
        self._pending = 0
        self._first_pending = None

    def close(self, version: int, metadata: str) -> None:
        self.conn.commit()
        self.conn.execute("PRAGMA journal_mode=DELETE")  # checkpoints the log and removes -wal
        super().close(version, metadata)


class _Writer(Writer):
    """rosbags' rosbag2 writer with the storages above."""

    STORAGE_PLUGINS: ClassVar[Mapping[StoragePlugin, type[Any]]] = {
        StoragePlugin.SQLITE3: _Sqlite3Storage,
        StoragePlugin.MCAP: _McapStorage,
    }


class BagWriter:
    """A new rosbag2 bag directory; use as a context manager (``close()`` writes the index and metadata).

    Example::

        with BagWriter(Path("run1")) as bag:
            bag.add_topic("/camera/camera/color/image_raw", "sensor_msgs/msg/Image", [SENSOR_QOS])
            bag.write("/camera/camera/color/image_raw", stamp_ns, image_msg)

    Not thread-safe: one writer thread (the recorder queues messages to one).

    What a kill (SIGKILL, power loss of the process) costs: MCAP, the open chunk (at most ``chunk_bytes``
    or ``sync_period_s`` of messages); sqlite3, the uncommitted messages (at most ``sync_period_s`` or
    ``commit_messages``). ``visuomotor bag repair`` turns what is left into a closed bag.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        typestore: Typestore | None = None,
        storage: str = "mcap",
        chunk_bytes: int = CHUNK_BYTES,
        sync_period_s: float = SYNC_PERIOD_S,
        commit_messages: int = COMMIT_MESSAGES,
    ) -> None:
        """Prepare a bag at ``path`` (a directory that must not exist yet).

        Args:
            path: the bag directory to create.
            typestore: types to serialise with (default :func:`bag_typestore`).
            storage: ``mcap`` or ``sqlite3``.
            chunk_bytes: MCAP: close a chunk once it holds this many bytes (1 KiB – 1 MiB).
            sync_period_s: MCAP: close a chunk open this long; sqlite3: commit this often (wall clock).
            commit_messages: sqlite3: commit at least every this many messages.

        Raises:
            BagError: ``path`` exists, ``storage`` is not one of ``STORAGES``, or a bound is out of range.
        """
        self.path = Path(path)
        if storage not in STORAGES:
            raise BagError(f"bag storage must be one of {sorted(STORAGES)}, got {storage!r}")
        if not 1024 <= chunk_bytes <= CHUNK_BYTES:
            raise BagError(f"chunk_bytes must be within 1024..{CHUNK_BYTES}, got {chunk_bytes}")
        if not sync_period_s > 0:
            raise BagError(f"sync_period_s must be positive, got {sync_period_s}")
        if commit_messages < 1:
            raise BagError(f"commit_messages must be ≥ 1, got {commit_messages}")
        self._bounds = {
            "chunk_bytes": int(chunk_bytes),
            "sync_period_s": float(sync_period_s),
            "commit_messages": int(commit_messages),
        }
        if self.path.exists():
            raise BagError(
                f"{self.path} exists already: choose a new output directory (bags are never overwritten)"
            )
        self.typestore = typestore if typestore is not None else bag_typestore()
        self.storage = storage
        self._writer = _Writer(self.path, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        self._connections: dict[str, Connection] = {}
        self._counts: dict[str, int] = {}
        self._open = False

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> BagWriter:
        try:
            self._writer.open()
        except (WriterError, OSError, sqlite3.Error) as err:
            raise BagError(f"cannot create the bag {self.path}: {err}") from err
        for name, value in self._bounds.items():
            if hasattr(self._writer.storage, name):
                setattr(self._writer.storage, name, value)
        self._open = True
        return self

    def sync(self) -> None:
        """Put everything written so far on disk now: close the open MCAP chunk / commit sqlite3."""
        self._sync(due_only=False)

    def sync_if_due(self) -> None:
        """:meth:`sync` if the oldest unsynced message is ``sync_period_s`` old (call it when idle)."""
        self._sync(due_only=True)

    def _sync(self, *, due_only: bool) -> None:
        storage = self._writer.storage
        if not self._open or storage is None:
            return
        try:
            if due_only:
                storage.sync_if_due()  # type: ignore[attr-defined]
            else:
                storage.sync()  # type: ignore[attr-defined]
        except (WriterError, OSError, sqlite3.Error) as err:
            raise BagError(f"cannot write to {self.path}: {err}") from err

    def close(self) -> None:
        """Write the storage index and ``metadata.yaml``; the bag is complete afterwards. Idempotent."""
        if not self._open:
            return
        self._open = False
        try:
            self._writer.close()
        except (WriterError, OSError, sqlite3.Error) as err:
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
        except (WriterError, sqlite3.Error) as err:
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
        except (WriterError, OSError, sqlite3.Error) as err:
            raise BagError(f"cannot write to {topic} in {self.path}: {err}") from err
        self._counts[topic] += 1

    def _connection(self, topic: str) -> Connection:
        if not self._open:
            raise BagError(f"bag {self.path} is not open: use it as a context manager or call open()")
        conn = self._connections.get(topic)
        if conn is None:
            raise BagError(f"topic {topic} was not added to {self.path}: call add_topic() first")
        return conn
