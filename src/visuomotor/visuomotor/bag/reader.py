"""Read rosbag2 bags (MCAP or sqlite3): topics, raw messages in log-time order, decoding on demand.

Reading and decoding are separate steps (as in rosbags): :meth:`BagReader.messages` yields CDR bytes and
:meth:`BagReader.decode` turns one into a rosbags message object, so a consumer that drops a message (an
unpaired depth image) never pays for decoding it. Every failure of the bag itself — missing path, no
``metadata.yaml``, a truncated or corrupt file, a serialisation other than CDR, a topic that is not there —
is a :class:`~visuomotor.bag.errors.BagError` naming the bag and the fix.

Corrupt data is never replayed: each MCAP chunk is checked against its CRC-32 as it is read (our writer and
rosbag2 store one) and the data-section CRC, where the writer stored one, when the bag is opened; a
mismatch is a BagError naming the chunk (index, byte offset, topics, log-time range) and
``visuomotor bag repair``, which drops it. A recording that was killed (no index, or a sqlite3 write-ahead
log never merged) is refused with the same fix.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rosbags.interfaces import Connection, ConnectionExtRosbag2, MessageDefinitionFormat, Qos
from rosbags.rosbag2 import Reader, ReaderError
from rosbags.typesys.store import Typestore

from visuomotor.bag.errors import BagError
from visuomotor.bag.mcap_scan import data_crc_problem, scan_mcap
from visuomotor.bag.repair import storage_files
from visuomotor.bag.typestore import bag_typestore, ensure_type

__all__ = ["BagMessage", "BagReader", "TopicSummary", "header_stamp_ns"]

# What rosbags (and the structs it unpacks) raise on a truncated or corrupt storage file.
_CORRUPT = (ReaderError, struct.error, EOFError, ValueError, IndexError, KeyError, AssertionError)
_STORAGE_SUFFIXES = (".mcap", ".db3")


@dataclass(frozen=True, slots=True)
class TopicSummary:
    """One topic of a bag.

    Attributes:
        name: topic name.
        msgtype: ``pkg/msg/Name``.
        count: messages in the bag.
        offered_qos: the QoS profiles its publishers offered while recording (may be empty).
    """

    name: str
    msgtype: str
    count: int
    offered_qos: tuple[Qos, ...]


@dataclass(frozen=True, slots=True)
class BagMessage:
    """One serialised message.

    Attributes:
        topic: topic name.
        msgtype: ``pkg/msg/Name``.
        log_time_ns: when it was recorded (the recorder's clock), ns.
        data: CDR bytes with the 4-byte encapsulation header.
    """

    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes | memoryview


def header_stamp_ns(data: bytes | memoryview) -> int | None:
    """The ``header.stamp`` of a CDR message whose first field is a ``std_msgs/Header``, without decoding it.

    ``builtin_interfaces/Time`` (int32 sec, uint32 nanosec) sits right after the 4-byte encapsulation
    header, already aligned. Returns None for an encapsulation other than plain CDR.
    """
    if len(data) < 12:
        return None
    kind = bytes(data[0:2])
    if kind == b"\x00\x01":
        sec, nanosec = struct.unpack_from("<iI", data, 4)
    elif kind == b"\x00\x00":
        sec, nanosec = struct.unpack_from(">iI", data, 4)
    else:
        return None
    return sec * 1_000_000_000 + nanosec


def _storage_path(path: Path) -> Path:
    """The path rosbags opens: the bag directory, or its one storage file when metadata.yaml is missing."""
    if not path.exists():
        raise BagError(
            f"bag {path} does not exist: pass a rosbag2 directory (with metadata.yaml) or an .mcap/.db3 file"
        )
    if path.is_file():
        if path.suffix not in _STORAGE_SUFFIXES:
            raise BagError(f"{path} is not a bag: pass a rosbag2 directory or an .mcap/.db3 file")
        return path
    if (path / "metadata.yaml").is_file():
        return path
    files = sorted(p for p in path.iterdir() if p.suffix in _STORAGE_SUFFIXES)
    if len(files) == 1:
        # A recording that was killed before writing metadata.yaml: its storage file may still be whole.
        return files[0]
    raise BagError(
        f"{path} has no metadata.yaml and {len(files)} storage files: pass one .mcap/.db3 file, or "
        f"rebuild the metadata with `visuomotor bag repair {path}` (or `ros2 bag reindex`)"
    )


class BagReader:
    """An open bag. Use as a context manager.

    Example::

        with BagReader(Path("run1")) as bag:
            bag.require_topic("/camera/camera/color/image_raw")
            for m in bag.messages({"/camera/camera/color/image_raw"}):
                image = bag.decode(m)
    """

    def __init__(self, path: str | Path, typestore: Typestore | None = None) -> None:
        self.path = Path(path)
        self.typestore = typestore if typestore is not None else bag_typestore()
        self._storage_path = _storage_path(self.path)
        self._reader: Reader | None = None
        self._topics: dict[str, TopicSummary] = {}
        self._connections: list[Connection] = []
        self._type_errors: dict[str, str] = {}

    @property
    def name(self) -> str:
        """The bag's name: its directory name (or the storage file's stem)."""
        return self.path.name if self.path.is_dir() else self.path.stem

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> BagReader:
        """Open the bag and read its topics.

        Raises:
            BagError: the bag is truncated, corrupt, compressed with an unknown format or not CDR.
        """
        self._check_sqlite_log()
        try:
            reader = Reader(self._storage_path)
            reader.open()
        except FileNotFoundError as err:
            raise BagError(f"bag {self.path}: {err}") from err
        except _CORRUPT as err:
            raise BagError(self._corrupt_message(f"{type(err).__name__}: {err}")) from err
        try:
            self._check_data_crc()
        except BaseException:
            reader.close()
            raise
        self._reader = reader
        self._connections = list(reader.connections)
        self._topics = {}
        for conn in self._connections:
            if isinstance(conn.ext, ConnectionExtRosbag2) and conn.ext.serialization_format != "cdr":
                raise BagError(
                    f"bag {self.path}: topic {conn.topic} is serialised as "
                    f"{conn.ext.serialization_format!r}; "
                    "only cdr (what rosbag2 records) is supported"
                )
            qos = tuple(conn.ext.offered_qos_profiles) if isinstance(conn.ext, ConnectionExtRosbag2) else ()
            have = self._topics.get(conn.topic)
            count = conn.msgcount + (have.count if have else 0)
            self._topics[conn.topic] = TopicSummary(conn.topic, conn.msgtype, count, qos)
            self._register_type(conn)
        self._topics = dict(sorted(self._topics.items()))
        return self

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> BagReader:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _register_type(self, conn: Connection) -> None:
        msgdef = conn.msgdef.data if conn.msgdef.format == MessageDefinitionFormat.MSG else ""
        try:
            ensure_type(self.typestore, conn.msgtype, msgdef)
        except BagError as err:
            # Only fatal for the topics someone decodes: a bag with one exotic topic still replays.
            self._type_errors[conn.msgtype] = str(err)

    def _corrupt_message(self, detail: str) -> str:
        return (
            f"bag {self.path} is truncated or corrupt ({detail}); a recording stopped "
            f"without closing lacks its index: repair it with `visuomotor bag repair {self.path}` (what "
            "`mcap recover` / `ros2 bag reindex` do), or re-record it"
        )

    def _files(self, suffix: str) -> list[Path]:
        try:
            return [f for f in storage_files(self._storage_path)[2] if f.suffix == suffix]
        except BagError:
            return []

    def _check_sqlite_log(self) -> None:
        """A sqlite3 bag whose write-ahead log was never merged: rosbags would read it without the log."""
        for db in self._files(".db3"):
            for side in ("-wal", "-journal"):
                log = db.with_name(db.name + side)
                if log.exists() and log.stat().st_size > 0:
                    raise BagError(
                        f"bag {self.path} was not closed cleanly: {log.name} ({log.stat().st_size} bytes) "
                        f"holds messages not yet in {db.name}; run `visuomotor bag repair {self.path}`, "
                        "which merges them and writes metadata.yaml"
                    )

    def _check_data_crc(self) -> None:
        for f in self._files(".mcap"):
            problem = data_crc_problem(f)
            if problem:
                raise BagError(
                    self._locate_corruption()
                    or f"bag {self.path} is corrupt outside its chunks ({f.name}: {problem}); its messages "
                    f"are intact (every chunk's CRC matches): rewrite it with `visuomotor bag repair "
                    f"{self.path} --out DIR`"
                )

    def _locate_corruption(self) -> str:
        """The message naming the first corrupt chunk a scan of the bag's MCAP files finds; "" if none."""
        for f in self._files(".mcap"):
            scan = scan_mcap(f)
            for chunk in scan.bad_chunks:
                return (
                    f"bag {self.path}: {scan.describe(chunk)} is corrupt ({chunk.problem}), so its messages "
                    f"would replay wrong; drop it with `visuomotor bag repair {self.path} --out DIR` (every "
                    "other chunk is kept), or re-record the bag"
                )
        return ""

    # ------------------------------------------------------------------ contents
    def _open_reader(self) -> Reader:
        if self._reader is None:
            raise BagError(f"bag {self.path} is not open: use it as a context manager or call open()")
        return self._reader

    @property
    def topics(self) -> dict[str, TopicSummary]:
        """topic → summary, sorted by name."""
        self._open_reader()
        return dict(self._topics)

    @property
    def start_time_ns(self) -> int:
        return self._open_reader().start_time

    @property
    def end_time_ns(self) -> int:
        return self._open_reader().end_time

    @property
    def message_count(self) -> int:
        return self._open_reader().message_count

    def describe_topics(self) -> str:
        """``"/a (pkg/msg/A, 10), /b (...)"`` for error messages."""
        if not self._topics:
            return "no topics"
        return ", ".join(f"{t.name} ({t.msgtype}, {t.count})" for t in self._topics.values())

    def require_topic(self, topic: str, msgtype: str | None = None, what: str = "") -> TopicSummary:
        """The topic's summary; BagError naming the topic and listing the bag's topics when it is absent.

        Args:
            topic: the topic needed.
            msgtype: its expected type, checked when given.
            what: what the topic is for, for the message (e.g. ``"colour images"``).
        """
        summary = self._topics.get(topic)
        role = f" ({what})" if what else ""
        if summary is None:
            raise BagError(
                f"bag {self.path} has no topic {topic}{role}; it has: {self.describe_topics()}. "
                "Pass the right topic name or record it"
            )
        if msgtype is not None and summary.msgtype != msgtype:
            raise BagError(
                f"bag {self.path}: topic {topic}{role} holds {summary.msgtype}, expected {msgtype}"
            )
        return summary

    def messages(
        self, topics: Collection[str] | None = None, start_ns: int | None = None
    ) -> Iterator[BagMessage]:
        """Serialised messages of ``topics`` (None = all) in log-time order, from ``start_ns`` on.

        Raises:
            BagError: the storage turns out truncated or corrupt while reading.
        """
        reader = self._open_reader()
        conns = [c for c in self._connections if topics is None or c.topic in topics]
        if not conns:
            return
        it = reader.messages(conns, start=start_ns)
        while True:
            try:
                conn, log_time, data = next(it)
            except StopIteration:
                return
            # rosbags raises ReaderError on a CRC mismatch, lz4/zstd their own errors on a damaged chunk.
            except Exception as err:
                detail = f"{type(err).__name__}: {err}"
                raise BagError(self._locate_corruption() or self._corrupt_message(detail)) from err
            yield BagMessage(conn.topic, conn.msgtype, log_time, data)

    def decode(self, message: BagMessage) -> Any:
        """The rosbags message object of ``message``.

        Raises:
            BagError: the type is unknown or the bytes do not decode as it (the message names both).
        """
        if message.msgtype in self._type_errors:
            raise BagError(self._type_errors[message.msgtype])
        try:
            return self.typestore.deserialize_cdr(message.data, message.msgtype)
        # rosbags' generated deserialisers raise anything from struct.error to IndexError on bad bytes.
        except Exception as err:
            raise BagError(
                f"bag {self.path}: a {message.msgtype} message on {message.topic} at {message.log_time_ns} "
                f"ns does not decode ({type(err).__name__}: {err}); the bag is corrupt or was written with "
                "another definition of the type"
            ) from err

    def read(self, topic: str) -> Iterator[tuple[int, Any]]:
        """(log time ns, decoded message) of one topic; BagError when the topic is absent."""
        self.require_topic(topic)
        for m in self.messages({topic}):
            yield m.log_time_ns, self.decode(m)
