"""A bag's state (:func:`bag_status`) and how to make a killed or damaged one whole (:func:`repair_bag`).

A recording stopped by SIGKILL (or a crash, or a full disk) never closes its bag: an MCAP file lacks its
summary and footer, a sqlite3 database keeps its last transactions in ``<bag>.db3-wal``, and neither has a
``metadata.yaml``, so rosbags, ``ros2 bag`` and our reader refuse it. :func:`repair_bag`:

- MCAP: copies every message of every whole chunk (CRC checked) into a new, closed bag — chunks cut by the
  kill or corrupt are dropped and named — with its ``metadata.yaml``; the source is left as it was.
- sqlite3: opens the database (SQLite replays the committed write-ahead log and rolls back an unfinished
  transaction), folds the log into the ``.db3`` and writes ``metadata.yaml`` from the database's tables. In
  place, or on a copy with ``out``.

:func:`bag_status` (``visuomotor bag info``) reads the whole bag to say what it holds and whether it needs
that: topics, types, counts, duration, storage, closed cleanly or not, corrupt chunks.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rosbags.interfaces import Qos
from rosbags.rosbag2.metadata import dump_qos_v9, parse_qos

from visuomotor.bag.errors import BagError
from visuomotor.bag.mcap_scan import MAGIC, McapChannel, McapScan, format_ns, scan_mcap
from visuomotor.bag.writer import BAG_VERSION, BagWriter

__all__ = [
    "BagStatus",
    "RepairReport",
    "TopicCount",
    "bag_status",
    "repair_bag",
    "storage_files",
]

_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3"}
_SIDECARS = ("-wal", "-journal")  # SQLite's write-ahead log / rollback journal next to a database
_REPAIR_HINT = "visuomotor bag repair"


@dataclass(frozen=True, slots=True)
class TopicCount:
    name: str
    msgtype: str
    count: int


@dataclass(frozen=True)
class BagStatus:
    """A bag as it is on disk (what ``visuomotor bag info`` prints).

    Attributes:
        path: the bag as given.
        storage: ``mcap`` or ``sqlite3``.
        files: its storage files.
        closed: its writer closed it (index, footer / merged log, ``metadata.yaml`` that matches).
        problems: what is wrong, one line each (each one a reason to repair).
        notes: facts worth knowing that are not problems.
        topics: topic, type and the messages that read back whole.
        chunks, bad_chunks: MCAP: complete chunks / corrupt ones among them.
    """

    path: Path
    storage: str
    files: tuple[Path, ...]
    closed: bool
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    topics: tuple[TopicCount, ...]
    start_ns: int | None
    end_ns: int | None
    chunks: int | None = None
    bad_chunks: int | None = None

    @property
    def message_count(self) -> int:
        return sum(t.count for t in self.topics)

    @property
    def duration_s(self) -> float:
        if self.start_ns is None or self.end_ns is None:
            return 0.0
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def needs_repair(self) -> bool:
        return not self.closed or bool(self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "storage": self.storage,
            "files": [str(f) for f in self.files],
            "closed": self.closed,
            "needs_repair": self.needs_repair,
            "problems": list(self.problems),
            "notes": list(self.notes),
            "message_count": self.message_count,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "duration_s": self.duration_s,
            "chunks": self.chunks,
            "bad_chunks": self.bad_chunks,
            "topics": [{"name": t.name, "type": t.msgtype, "count": t.count} for t in self.topics],
        }

    def lines(self) -> list[str]:
        size = sum(f.stat().st_size for f in self.files if f.exists())
        state = (
            "closed cleanly"
            if not self.needs_repair
            else f"NEEDS REPAIR: run `{_REPAIR_HINT} {self.path}`"
            + ("" if self.closed else " (it was not closed: a killed recording?)")
        )
        out = [
            f"bag:       {self.path}",
            f"storage:   {self.storage} ({', '.join(f.name for f in self.files)}; {size / 1e6:.1f} MB)",
            f"state:     {state}",
        ]
        if self.start_ns is not None:
            out.append(
                f"duration:  {self.duration_s:.3f} s (log time {format_ns(self.start_ns)} – "
                f"{format_ns(self.end_ns or 0)} s)"
            )
        out.append(f"messages:  {self.message_count}")
        if self.chunks is not None:
            out.append(f"chunks:    {self.chunks} complete, {self.bad_chunks} corrupt")
        out += [f"problem:   {p}" for p in self.problems]
        out += [f"note:      {n}" for n in self.notes]
        if self.topics:
            width = max(len(t.name) for t in self.topics)
            twidth = max(len(t.msgtype) for t in self.topics)
            out.append("topics:")
            out += [f"  {t.name:<{width}}  {t.msgtype:<{twidth}}  {t.count:>8}" for t in self.topics]
        return out


@dataclass(frozen=True)
class RepairReport:
    """What :func:`repair_bag` did.

    Attributes:
        source: the bag repaired.
        out: the repaired bag (``source`` itself for sqlite3 in place).
        storage: ``mcap`` or ``sqlite3``.
        topics: topic, type and messages of the repaired bag.
        chunks_kept: MCAP: whole chunks copied.
        dropped: one line per chunk (or message group) left out, naming why.
        cut_bytes: MCAP: bytes after the last complete record (the chunk open at the kill).
    """

    source: Path
    out: Path
    storage: str
    topics: tuple[TopicCount, ...]
    chunks_kept: int | None = None
    dropped: tuple[str, ...] = ()
    cut_bytes: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def message_count(self) -> int:
        return sum(t.count for t in self.topics)

    def lines(self) -> list[str]:
        where = "in place" if self.out == self.source else f"→ {self.out}"
        chunks = f" from {self.chunks_kept} whole chunks" if self.chunks_kept is not None else ""
        out = [
            f"repaired {self.source} {where} ({self.storage}): {self.message_count} messages on "
            f"{len(self.topics)} topics{chunks}"
        ]
        out += [f"  dropped {d}" for d in self.dropped]
        if self.cut_bytes:
            out.append(f"  lost the last {self.cut_bytes} bytes: the record the recording was cut inside")
        out += [f"  note: {n}" for n in self.notes]
        return out


# ---------------------------------------------------------------------- locating a bag's files
def _metadata(bag_dir: Path) -> dict[str, Any] | None:
    """``rosbag2_bagfile_information`` of ``metadata.yaml``; None when absent or unreadable."""
    path = bag_dir / "metadata.yaml"
    if not path.is_file():
        return None
    try:
        info = yaml.safe_load(path.read_text())["rosbag2_bagfile_information"]
    except (yaml.YAMLError, TypeError, KeyError, OSError):
        return None
    return info if isinstance(info, dict) else None


def storage_files(path: str | Path) -> tuple[Path, str, list[Path]]:
    """(bag directory, storage, storage files) of a bag directory or of one ``.mcap`` / ``.db3`` file.

    Raises:
        BagError: missing, not a bag, or a directory with no (or mixed) storage files.
    """
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path} does not exist: pass a rosbag2 directory or an .mcap/.db3 file")
    if path.is_file():
        if path.suffix not in _SUFFIXES:
            raise BagError(f"{path} is not a bag: pass a rosbag2 directory or an .mcap/.db3 file")
        return path.parent, _SUFFIXES[path.suffix], [path]
    meta = _metadata(path)
    if meta is not None and meta.get("storage_identifier") in _SUFFIXES.values():
        files = [path / Path(str(f)).name for f in meta.get("relative_file_paths") or []]
        if files and all(f.is_file() for f in files):
            return path, str(meta["storage_identifier"]), files
    files = sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES and p.is_file())
    kinds = {_SUFFIXES[f.suffix] for f in files}
    if len(kinds) != 1:
        found = ", ".join(f.name for f in files) or "none"
        raise BagError(f"{path} is not a bag: it needs .mcap or .db3 storage files (found: {found})")
    return path, kinds.pop(), files


def _check_metadata(bag_dir: Path, files: Sequence[Path], storage: str, count: int) -> list[str]:
    """Problems of ``metadata.yaml`` against the storage: missing, unreadable, other files or counts."""
    if not (bag_dir / "metadata.yaml").exists():
        return ["no metadata.yaml (written when the bag is closed): rosbags and ros2 bag cannot open it"]
    meta = _metadata(bag_dir)
    if meta is None:
        return ["metadata.yaml is unreadable"]
    problems = []
    listed = {Path(str(f)).name for f in meta.get("relative_file_paths") or []}
    if listed != {f.name for f in files} or meta.get("storage_identifier") != storage:
        problems.append(
            f"metadata.yaml lists {sorted(listed)} ({meta.get('storage_identifier')}), "
            f"the bag has {[f.name for f in files]} ({storage})"
        )
    elif meta.get("message_count") != count:
        problems.append(
            f"metadata.yaml counts {meta.get('message_count')} messages, the storage holds {count}"
        )
    return problems


# ---------------------------------------------------------------------- status
def bag_status(path: str | Path) -> BagStatus:
    """Read the whole bag (every MCAP chunk decompressed and CRC-checked; sqlite3 counted) and report.

    Raises:
        BagError: not a bag, or its storage cannot be opened at all.
    """
    bag_dir, storage, files = storage_files(path)
    if storage == "mcap":
        return _mcap_status(Path(path), bag_dir, files)
    return _sqlite_status(Path(path), bag_dir, files)


def _topic_counts(scans: Sequence[McapScan]) -> tuple[TopicCount, ...]:
    counts: dict[str, TopicCount] = {}
    for scan in scans:
        for cid, channel in scan.channels.items():
            have = counts.get(channel.topic)
            n = scan.message_counts.get(cid, 0) + (have.count if have else 0)
            msgtype = channel.schema.name if channel.schema else "?"
            counts[channel.topic] = TopicCount(channel.topic, msgtype, n)
    return tuple(sorted(counts.values(), key=lambda t: t.name))


def _cut_problem(scan: McapScan) -> str:
    lost = scan.size - (scan.cut_at or scan.size)
    return (
        f"{scan.path.name} is cut at byte {scan.cut_at} of {scan.size} (no summary or footer: the recording "
        f"was not closed); the {lost} bytes after the last complete record are lost"
    )


def _mcap_status(path: Path, bag_dir: Path, files: list[Path]) -> BagStatus:
    scans = [scan_mcap(f) for f in files]
    problems: list[str] = []
    notes: list[str] = []
    for scan in scans:
        if scan.cut_at is not None:
            problems.append(_cut_problem(scan))
        elif not scan.closed:
            problems.append(f"{scan.path.name} has no summary or footer: the recording was not closed")
        problems += [f"corrupt {scan.describe(c)}: {c.problem}" for c in scan.bad_chunks]
        problems += [f"{scan.path.name}: {p}" for p in scan.problems]
        if scan.orphan_messages:
            problems.append(
                f"{scan.path.name}: {scan.orphan_messages} messages on channels defined in a lost chunk"
            )
        if scan.chunks and not scan.chunks_have_crcs:
            notes.append(
                f"{scan.path.name}: {sum(not c.crc for c in scan.chunks)} chunks carry no CRC (written by "
                "an older writer): corruption inside them cannot be detected"
            )
    # What the writer wrote, corrupt chunks included (their messages are counted from their index).
    count = sum(s.message_count + sum(c.messages for c in s.bad_chunks) for s in scans)
    problems += _check_metadata(bag_dir, files, "mcap", count) if path.is_dir() else []
    starts = [s.start_ns for s in scans if s.start_ns is not None]
    ends = [s.end_ns for s in scans if s.end_ns is not None]
    return BagStatus(
        path=path,
        storage="mcap",
        files=tuple(files),
        closed=all(s.closed for s in scans) and (not path.is_dir() or _metadata(bag_dir) is not None),
        problems=tuple(problems),
        notes=tuple(notes),
        topics=_topic_counts(scans),
        start_ns=min(starts) if starts else None,
        end_ns=max(ends) if ends else None,
        chunks=sum(len(s.chunks) for s in scans),
        bad_chunks=sum(len(s.bad_chunks) for s in scans),
    )


@dataclass
class _DbContents:
    topics: list[dict[str, Any]]  # id, name, type, serialization_format, offered_qos_profiles, hash
    counts: dict[int, tuple[int, int, int]]  # topic id → count, first, last timestamp
    check: str


def _read_db(conn: sqlite3.Connection) -> _DbContents:
    columns = {row[1] for row in conn.execute("PRAGMA table_info(topics)")}
    wanted = ["id", "name", "type", "serialization_format", "offered_qos_profiles", "type_description_hash"]
    have = [c for c in wanted if c in columns]
    topics = [
        dict(zip(have, row, strict=True))
        for row in conn.execute(
            f"SELECT {', '.join(have)} FROM topics ORDER BY id"  # column names from our own list
        )
    ]
    counts = {
        int(tid): (int(n), int(lo), int(hi))
        for tid, n, lo, hi in conn.execute(
            "SELECT topic_id, COUNT(*), MIN(timestamp), MAX(timestamp) FROM messages GROUP BY topic_id"
        )
    }
    check = str(conn.execute("PRAGMA quick_check").fetchone()[0])
    return _DbContents(topics, counts, check)


def _sidecars(db: Path) -> list[Path]:
    return [p for s in _SIDECARS if (p := db.with_name(db.name + s)).exists() and p.stat().st_size > 0]


def _sqlite_status(path: Path, bag_dir: Path, files: list[Path]) -> BagStatus:
    problems: list[str] = []
    topics: dict[str, TopicCount] = {}
    starts, ends = [], []
    for db in files:
        pending = _sidecars(db)
        for p in pending:
            what = "write-ahead log" if p.name.endswith("-wal") else "rollback journal"
            problems.append(
                f"{p.name} ({p.stat().st_size} bytes) is an unmerged {what}: the recording was not closed "
                "(repair folds in its committed messages)"
            )
        try:
            # Read-only, but not immutable: SQLite reads the committed part of a write-ahead log too.
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                contents = _read_db(conn)
            finally:
                conn.close()
        except sqlite3.Error as err:
            raise BagError(f"cannot read the database {db}: {err}") from err
        if contents.check != "ok":
            problems.append(f"{db.name} fails SQLite's integrity check: {contents.check}")
        for t in contents.topics:
            n, lo, hi = contents.counts.get(int(t["id"]), (0, None, None))
            have = topics.get(t["name"])
            topics[t["name"]] = TopicCount(t["name"], t["type"], n + (have.count if have else 0))
            if n:
                starts.append(lo)
                ends.append(hi)
    count = sum(t.count for t in topics.values())
    problems += _check_metadata(bag_dir, files, "sqlite3", count) if path.is_dir() else []
    closed = not any(_sidecars(db) for db in files) and (not path.is_dir() or _metadata(bag_dir) is not None)
    return BagStatus(
        path=path,
        storage="sqlite3",
        files=tuple(files),
        closed=closed,
        problems=tuple(problems),
        notes=(),
        topics=tuple(sorted(topics.values(), key=lambda t: t.name)),
        start_ns=min(starts) if starts else None,
        end_ns=max(ends) if ends else None,
    )


# ---------------------------------------------------------------------- repair
def repair_bag(path: str | Path, out: str | Path | None = None) -> RepairReport:
    """Make a killed or damaged bag whole; see the module docstring.

    Args:
        path: the bag directory (or its one storage file).
        out: where to write the repaired bag (must not exist). Default: MCAP, ``<bag>-repaired`` beside
            it; sqlite3, in place.

    Raises:
        BagError: not a bag, ``out`` exists, or nothing in it can be read.
    """
    path = Path(path)
    bag_dir, storage, files = storage_files(path)
    name = bag_dir.name if path.is_dir() else path.stem
    if storage == "mcap":
        target = Path(out) if out is not None else bag_dir.parent / f"{name}-repaired"
        return _repair_mcap(path, files, target)
    return _repair_sqlite(path, bag_dir, files, Path(out) if out is not None else None)


def _qos(channel: McapChannel) -> list[Qos]:
    text = channel.metadata.get("offered_qos_profiles", "")
    try:
        return parse_qos(text) if text else []
    except Exception:  # a profile another writer spelt differently: the messages matter more
        return []


def _repair_mcap(path: Path, files: list[Path], out: Path) -> RepairReport:
    if out.exists():
        raise BagError(f"{out} exists already: choose a new --out directory (bags are never overwritten)")
    for f in files:  # refuse a non-MCAP file before creating anything
        with f.open("rb") as fh:
            if fh.read(len(MAGIC)) != MAGIC:
                raise BagError(f"{f} is not an MCAP file (no MCAP magic at its start): nothing to repair")
    dropped: list[str] = []
    refused: dict[str, str] = {}  # topic → why its messages are left out
    refused_counts: dict[str, int] = {}
    added: dict[str, str] = {}  # topic → type written
    cut = 0
    kept = 0
    writer = BagWriter(out, storage="mcap")
    with writer:

        def on_message(channel: McapChannel | None, log_time: int, data: bytes) -> None:
            if channel is None:
                return  # counted by the scan (orphan_messages)
            topic = channel.topic
            if topic in refused:
                refused_counts[topic] += 1
                return
            if topic not in added:
                why = _add_topic(writer, channel)
                if why:
                    refused[topic], refused_counts[topic] = why, 1
                    return
                added[topic] = channel.schema.name if channel.schema else ""
            writer.write_raw(topic, log_time, data)

        for f in files:
            scan = scan_mcap(f, on_message)
            kept += len(scan.chunks) - len(scan.bad_chunks)
            dropped += [f"{scan.describe(c)}: {c.problem}" for c in scan.bad_chunks]
            if scan.orphan_messages:
                dropped.append(
                    f"{scan.orphan_messages} messages of {f.name} on channels defined in a lost chunk"
                )
            if scan.cut_at is not None:
                cut += scan.size - scan.cut_at
    dropped += [f"{refused_counts[t]} messages on {t}: {why}" for t, why in sorted(refused.items())]
    counts = writer.message_counts
    topics = tuple(TopicCount(t, added[t], counts.get(t, 0)) for t in sorted(added))
    return RepairReport(path, out, "mcap", topics, chunks_kept=kept, dropped=tuple(dropped), cut_bytes=cut)


def _add_topic(writer: BagWriter, channel: McapChannel) -> str:
    """Add the channel's topic to ``writer``; returns why not ("" when added)."""
    schema = channel.schema
    if schema is None:
        return f"its channel names schema {channel.schema_id}, which the file never defines"
    if channel.message_encoding != "cdr":
        return f"it is serialised as {channel.message_encoding!r}; only cdr is supported"
    msgdef = schema.data.decode("utf-8", errors="replace") if schema.encoding == "ros2msg" else ""
    try:
        writer.add_topic(channel.topic, schema.name, _qos(channel), msgdef)
    except BagError as err:
        return str(err)
    return ""


def _repair_sqlite(path: Path, bag_dir: Path, files: list[Path], out: Path | None) -> RepairReport:
    if out is not None:
        if out.exists():
            raise BagError(f"{out} exists already: choose a new --out directory (bags are never overwritten)")
        out.mkdir(parents=True)
        copies = []
        for i, db in enumerate(files):
            dst = out / (f"{out.name}.db3" if len(files) == 1 else f"{out.name}_{i}.db3")
            shutil.copy2(db, dst)
            for s in _SIDECARS:  # the log / journal travel with the database, renamed alike
                side = db.with_name(db.name + s)
                if side.exists():
                    shutil.copy2(side, dst.with_name(dst.name + s))
            copies.append(dst)
        bag_dir, files = out, copies
    notes: list[str] = []
    per_file: list[tuple[Path, _DbContents]] = []
    for db in files:
        try:
            conn = sqlite3.connect(db)  # a plain open replays the log / rolls back a journal
            try:
                contents = _read_db(conn)
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("PRAGMA journal_mode=DELETE")  # fold the log into the .db3, remove -wal
                conn.commit()
            finally:
                conn.close()
        except sqlite3.Error as err:
            raise BagError(
                f"cannot repair the database {db}: {err}; try `sqlite3 {db} .recover` first"
            ) from err
        if contents.check != "ok":
            notes.append(
                f"{db.name} fails SQLite's integrity check ({contents.check}): its readable rows are kept"
            )
        per_file.append((db, contents))
    info = _sqlite_metadata(per_file)
    for db, _ in per_file:
        _store_metadata_row(db, info)
    text = yaml.safe_dump({"rosbag2_bagfile_information": info}, sort_keys=False)
    tmp = bag_dir / "metadata.yaml.tmp"
    tmp.write_text(text)
    tmp.replace(bag_dir / "metadata.yaml")
    topics = tuple(
        TopicCount(t["topic_metadata"]["name"], t["topic_metadata"]["type"], t["message_count"])
        for t in info["topics_with_message_count"]
    )
    return RepairReport(path, bag_dir if out is not None else path, "sqlite3", topics, notes=tuple(notes))


def _sqlite_metadata(per_file: list[tuple[Path, _DbContents]]) -> dict[str, Any]:
    """rosbag2 metadata (version 9, as rosbags writes it) from the databases' own tables."""
    topics: dict[str, dict[str, Any]] = {}
    files = []
    first, last, total = None, None, 0
    for db, contents in per_file:
        f_first, f_last, f_total = None, None, 0
        for t in contents.topics:
            n, lo, hi = contents.counts.get(int(t["id"]), (0, None, None))
            entry = topics.setdefault(
                t["name"],
                {
                    "topic_metadata": {
                        "name": t["name"],
                        "type": t["type"],
                        "serialization_format": t.get("serialization_format", "cdr"),
                        "offered_qos_profiles": dump_qos_v9(parse_qos(t.get("offered_qos_profiles") or "")),
                        "type_description_hash": t.get("type_description_hash", ""),
                    },
                    "message_count": 0,
                },
            )
            entry["message_count"] += n
            if n:
                f_first = lo if f_first is None else min(f_first, lo)
                f_last = hi if f_last is None else max(f_last, hi)
                f_total += n
        files.append(
            {
                "path": db.name,
                "starting_time": {"nanoseconds_since_epoch": f_first if f_first is not None else 0},
                "duration": {"nanoseconds": (f_last - f_first) if f_first is not None else 0},
                "message_count": f_total,
            }
        )
        if f_first is not None:
            first = f_first if first is None else min(first, f_first)
            last = f_last if last is None else max(last, f_last)
        total += f_total
    return {
        "version": BAG_VERSION,
        "storage_identifier": "sqlite3",
        "relative_file_paths": [db.name for db, _ in per_file],
        "duration": {"nanoseconds": (last - first) if first is not None and last is not None else 0},
        "starting_time": {"nanoseconds_since_epoch": first if first is not None else 0},
        "message_count": total,
        "topics_with_message_count": list(topics.values()),
        "compression_format": "",
        "compression_mode": "",
        "files": files,
        "custom_data": None,
        "ros_distro": "rosbags",
    }


def _store_metadata_row(db: Path, info: dict[str, Any]) -> None:
    """The metadata row rosbag2 (schema 4) keeps in the database, written at close: add it if missing."""
    conn = sqlite3.connect(db)
    try:
        has_table = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='metadata'"
        ).fetchone()[0]
        if has_table and not conn.execute("SELECT count(*) FROM metadata").fetchone()[0]:
            conn.execute(
                "INSERT INTO metadata(metadata_version, metadata) VALUES(?, ?)",
                (BAG_VERSION, yaml.safe_dump(info, sort_keys=False).strip()),
            )
            conn.commit()
    finally:
        conn.close()
