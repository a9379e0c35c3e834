"""Walk an MCAP file record by record, as far as it goes, checking every CRC it carries.

rosbags reads an MCAP file through the summary a clean close writes at its end; a recording killed before
that has none, and rosbags (like our reader) refuses it. :func:`scan_mcap` needs only the data section: it
reads the records in file order from the header on (the way ``mcap recover`` does), decompresses each chunk,
checks its CRC-32 (and the data-section and summary CRCs where the writer stored them), and stops at the
first record the file ends inside. What it learns — schemas, channels, every chunk with its byte offset,
topics, log-time range and problem — is what ``visuomotor bag info`` reports and ``visuomotor bag repair``
copies from; the BagError of a corrupt chunk names it from here.

Written by hand because the project's bag library has no such reader: rosbags' ``McapReader`` raises at the
first truncated record and reports a CRC mismatch without saying where, and the ``mcap`` package is not a
dependency of the project. The record layouts are the MCAP specification's (https://mcap.dev/spec); the
decompressors are rosbags'.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from rosbags.rosbag2.storage_mcap import DECOMPRESSORS

from visuomotor.bag.errors import BagError

__all__ = [
    "MAGIC",
    "McapChannel",
    "McapChunk",
    "McapScan",
    "McapSchema",
    "data_crc_problem",
    "format_ns",
    "scan_mcap",
]

MAGIC = b"\x89MCAP0\r\n"
_OP_HEADER, _OP_FOOTER, _OP_SCHEMA, _OP_CHANNEL, _OP_MESSAGE = 0x01, 0x02, 0x03, 0x04, 0x05
_OP_CHUNK, _OP_MESSAGE_INDEX, _OP_CHUNK_INDEX, _OP_DATA_END = 0x06, 0x07, 0x08, 0x0F
_FOOTER_BYTES = 1 + 8 + 8 + 8 + 4 + len(MAGIC)  # opcode, length, summary_start, summary_offset_start, crc
_DATA_END_BYTES = 1 + 8 + 4  # opcode, length, data_section_crc
_READ_BLOCK = 1 << 20

#: called for each message of a whole chunk (or outside chunks): channel (None if never defined), log
#: time ns, CDR bytes
MessageCallback = Callable[["McapChannel | None", int, bytes], None]


@dataclass(frozen=True, slots=True)
class McapSchema:
    id: int
    name: str
    encoding: str
    data: bytes


@dataclass(frozen=True, slots=True)
class McapChannel:
    id: int
    schema_id: int
    topic: str
    message_encoding: str
    metadata: dict[str, str]
    #: its schema, when the file defined it before the channel (as the specification asks)
    schema: McapSchema | None = None


@dataclass(slots=True)
class McapChunk:
    """One complete chunk record of the data section.

    Attributes:
        index: its place among the file's complete chunks, from 0.
        offset: byte offset of the record (its opcode) in the file.
        length: bytes of the record, opcode and length field included.
        start_ns, end_ns: the log-time range the chunk declares.
        crc: the CRC-32 it stores for its uncompressed records (0: none stored).
        messages: messages in it (counted when it decodes, else from its message index records).
        channel_ids: channels of its messages.
        problem: why it cannot be used; "" when whole and valid.
    """

    index: int
    offset: int
    length: int
    start_ns: int
    end_ns: int
    crc: int
    messages: int = 0
    channel_ids: set[int] = field(default_factory=set)
    problem: str = ""


@dataclass
class McapScan:
    """What :func:`scan_mcap` found in one file."""

    path: Path
    size: int
    profile: str = ""
    schemas: dict[int, McapSchema] = field(default_factory=dict)
    channels: dict[int, McapChannel] = field(default_factory=dict)
    chunks: list[McapChunk] = field(default_factory=list)
    #: channel id → messages that read back whole (valid chunks and messages outside chunks)
    message_counts: dict[int, int] = field(default_factory=dict)
    start_ns: int | None = None
    end_ns: int | None = None
    #: byte offset of the record the file ends inside (a killed writer), None when none
    cut_at: int | None = None
    #: byte offset of the DataEnd record, None when the data section never ended
    data_end: int | None = None
    data_crc: int = 0
    data_crc_ok: bool | None = None
    summary_crc_ok: bool | None = None
    #: the file ends in a footer and the magic (it was closed)
    footer: bool = False
    #: problems outside chunks (CRC of the data section or summary, unreadable summary, stray bytes)
    problems: list[str] = field(default_factory=list)
    #: messages whose channel was never defined (its chunk was lost)
    orphan_messages: int = 0

    @property
    def bad_chunks(self) -> list[McapChunk]:
        return [c for c in self.chunks if c.problem]

    @property
    def closed(self) -> bool:
        """The writer finished the file: data section ended, footer and magic at the end, nothing cut."""
        return self.footer and self.data_end is not None and self.cut_at is None

    @property
    def message_count(self) -> int:
        return sum(self.message_counts.values())

    @property
    def chunks_have_crcs(self) -> bool:
        return bool(self.chunks) and all(c.crc for c in self.chunks)

    def topics(self, chunk: McapChunk) -> list[str]:
        return sorted(
            {self.channels[c].topic if c in self.channels else f"channel {c}" for c in chunk.channel_ids}
        )

    def describe(self, chunk: McapChunk) -> str:
        """``chunk 3 of run1.mcap (byte offset 123, 456 bytes; /a, /b; log time … s; 7 messages)``."""
        topics = ", ".join(self.topics(chunk)) or "topics unknown"
        count = f"{chunk.messages} messages" if chunk.messages else "message count unknown"
        return (
            f"chunk {chunk.index} of {self.path.name} (byte offset {chunk.offset}, {chunk.length} bytes; "
            f"{topics}; log time {format_ns(chunk.start_ns)} – {format_ns(chunk.end_ns)} s; {count})"
        )


def format_ns(ns: int) -> str:
    """Nanoseconds as seconds with 9 decimals (log times are ns since the epoch)."""
    sec, nsec = divmod(int(ns), 1_000_000_000)
    return f"{sec}.{nsec:09d}"


class _Cut(Exception):
    """A record runs past the end of its buffer."""


def _u16(b: memoryview, at: int) -> int:
    return int.from_bytes(b[at : at + 2], "little")


def _u32(b: memoryview, at: int) -> int:
    return int.from_bytes(b[at : at + 4], "little")


def _u64(b: memoryview, at: int) -> int:
    return int.from_bytes(b[at : at + 8], "little")


def _take(b: memoryview, at: int, n: int) -> tuple[memoryview, int]:
    if n < 0 or at + n > len(b):
        raise _Cut
    return b[at : at + n], at + n


def _string(b: memoryview, at: int) -> tuple[str, int]:
    _, at = _take(b, at, 4)
    raw, at = _take(b, at, _u32(b, at - 4))
    return bytes(raw).decode("utf-8", errors="replace"), at


def _records(b: memoryview) -> list[tuple[int, memoryview]]:
    """(opcode, content) of each record in ``b``; _Cut when one runs past its end."""
    out = []
    at = 0
    while at < len(b):
        head, at = _take(b, at, 9)
        body, at = _take(b, at, _u64(head, 1))
        out.append((head[0], body))
    return out


def _schema(body: memoryview) -> McapSchema:
    name, at = _string(body, 2)
    encoding, at = _string(body, at)
    _, at = _take(body, at, 4)
    data, _ = _take(body, at, _u32(body, at - 4))
    return McapSchema(_u16(body, 0), name, encoding, bytes(data))


def _channel(body: memoryview, schemas: dict[int, McapSchema]) -> McapChannel:
    topic, at = _string(body, 4)
    encoding, at = _string(body, at)
    _, at = _take(body, at, 4)
    meta, _ = _take(body, at, _u32(body, at - 4))
    metadata = {}
    m = 0
    while m < len(meta):
        key, m = _string(meta, m)
        value, m = _string(meta, m)
        metadata[key] = value
    schema_id = _u16(body, 2)
    return McapChannel(_u16(body, 0), schema_id, topic, encoding, metadata, schemas.get(schema_id))


def _read_footer(f: BinaryIO, size: int) -> tuple[int, int, int] | None:
    """(summary_start, summary_offset_start, summary_crc) when the file ends in a footer and the magic."""
    if size < len(MAGIC) + _FOOTER_BYTES:
        return None
    f.seek(size - _FOOTER_BYTES)
    tail = memoryview(f.read(_FOOTER_BYTES))
    if bytes(tail[-8:]) != MAGIC or tail[0] != _OP_FOOTER or _u64(tail, 1) != 20:
        return None
    return _u64(tail, 9), _u64(tail, 17), _u32(tail, 25)


def _crc_of_range(f: BinaryIO, start: int, end: int, crc: int = 0) -> int:
    f.seek(start)
    left = end - start
    while left > 0:
        block = f.read(min(_READ_BLOCK, left))
        if not block:
            break
        crc = zlib.crc32(block, crc)
        left -= len(block)
    return crc


def data_crc_problem(path: Path) -> str | None:
    """The data-section CRC check of a closed file, where its writer stored one (one sequential read).

    Returns None when the CRC matches or none is stored (or the file has no summary to find it by), else
    the problem in words.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        footer = _read_footer(f, size)
        if footer is None or not footer[0] or footer[0] < len(MAGIC) + _DATA_END_BYTES:
            return None
        data_end = footer[0] - _DATA_END_BYTES  # DataEnd is the last record before the summary
        f.seek(data_end)
        rec = memoryview(f.read(_DATA_END_BYTES))
        if rec[0] != _OP_DATA_END or _u64(rec, 1) != 4:
            return None
        stored = _u32(rec, 9)
        if not stored:
            return None
        computed = _crc_of_range(f, 0, data_end)
    if computed == stored:
        return None
    return f"data-section CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"


class _Scanner:
    def __init__(self, path: Path, f: BinaryIO, size: int, on_message: MessageCallback | None) -> None:
        self.f = f
        self.scan = McapScan(path, size)
        self.on_message = on_message
        self.summary_chunks: dict[int, tuple[int, int, set[int]]] = {}  # offset → start, end, channels
        self.last_chunk: McapChunk | None = None

    # -------------------------------------------------------------- summary (present when closed)
    def read_summary(self) -> int | None:
        """Schemas, channels and chunk indexes of the summary; returns where the summary starts."""
        scan = self.scan
        footer = _read_footer(self.f, scan.size)
        if footer is None:
            return None
        scan.footer = True
        summary_start, _, summary_crc = footer
        footer_at = scan.size - _FOOTER_BYTES
        if not summary_start:
            return None
        if not len(MAGIC) < summary_start <= footer_at:
            scan.problems.append(f"the footer points at a summary outside the file (byte {summary_start})")
            return None
        if summary_crc:
            computed = _crc_of_range(self.f, summary_start, footer_at + 1 + 8 + 16)
            scan.summary_crc_ok = computed == summary_crc
            if not scan.summary_crc_ok:
                scan.problems.append(
                    f"summary CRC mismatch (stored {summary_crc:#010x}, computed {computed:#010x}): "
                    "the index at the end of the file is corrupt"
                )
        self.f.seek(summary_start)
        summary = memoryview(self.f.read(footer_at - summary_start))
        try:
            for op, body in _records(summary):
                if op == _OP_SCHEMA:
                    s = _schema(body)
                    scan.schemas.setdefault(s.id, s)
                elif op == _OP_CHANNEL:
                    c = _channel(body, scan.schemas)
                    scan.channels.setdefault(c.id, c)
                elif op == _OP_CHUNK_INDEX:
                    start, end, offset = _u64(body, 0), _u64(body, 8), _u64(body, 16)
                    _, at = _take(body, 32, 4)
                    offsets, _ = _take(body, at, _u32(body, at - 4))
                    ids = {_u16(offsets, i) for i in range(0, len(offsets) - 9, 10)}
                    self.summary_chunks[offset] = (start, end, ids)
        except (_Cut, UnicodeDecodeError, KeyError):
            scan.problems.append(f"the summary at byte {summary_start} is unreadable")
        return summary_start

    # -------------------------------------------------------------- data section
    def read_data(self, summary_start: int | None) -> None:
        scan, f = self.scan, self.f
        f.seek(0)
        if f.read(len(MAGIC)) != MAGIC:
            raise BagError(f"{scan.path} is not an MCAP file (it does not start with the MCAP magic)")
        crc = zlib.crc32(MAGIC)
        offset = len(MAGIC)
        end = summary_start if summary_start else scan.size
        while offset < end:
            head = f.read(9)
            if len(head) < 9:
                scan.cut_at = offset
                return
            op, length = head[0], int.from_bytes(head[1:9], "little")
            if length > scan.size - offset - 9:
                scan.cut_at = offset
                return
            if op == _OP_DATA_END:
                body = memoryview(f.read(length))
                scan.data_end = offset
                scan.data_crc = _u32(body, 0) if length >= 4 else 0
                if scan.data_crc:
                    scan.data_crc_ok = crc == scan.data_crc
                    if not scan.data_crc_ok:
                        scan.problems.append(
                            f"data-section CRC mismatch (stored {scan.data_crc:#010x}, computed {crc:#010x})"
                        )
                return
            if op == _OP_FOOTER:  # a writer that skipped DataEnd
                return
            body = memoryview(f.read(length))
            crc = zlib.crc32(body, zlib.crc32(head, crc))
            self.record(op, body, offset, 9 + length)
            offset += 9 + length

    def record(self, op: int, body: memoryview, offset: int, length: int) -> None:
        scan = self.scan
        try:
            if op == _OP_HEADER:
                scan.profile, _ = _string(body, 0)
            elif op == _OP_SCHEMA:
                s = _schema(body)
                scan.schemas[s.id] = s
            elif op == _OP_CHANNEL:
                c = _channel(body, scan.schemas)
                scan.channels[c.id] = c
            elif op == _OP_MESSAGE:
                self.message(body)
            elif op == _OP_CHUNK:
                self.chunk(body, offset, length)
                return
            elif op == _OP_MESSAGE_INDEX and self.last_chunk is not None:
                chunk = self.last_chunk
                chunk.channel_ids.add(_u16(body, 0))
                if chunk.problem:  # a whole chunk counted its messages itself
                    chunk.messages += _u32(body, 2) // 16
                return
        except (_Cut, UnicodeDecodeError):
            scan.problems.append(f"a record of type {op:#04x} at byte {offset} is malformed; skipped")
        self.last_chunk = None

    def message(self, body: memoryview) -> None:
        if len(body) < 22:
            raise _Cut
        channel_id, log_time = _u16(body, 0), _u64(body, 6)
        channel = self.scan.channels.get(channel_id)
        if channel is None:
            self.scan.orphan_messages += 1
        else:
            self.scan.message_counts[channel_id] = self.scan.message_counts.get(channel_id, 0) + 1
            s = self.scan
            s.start_ns = log_time if s.start_ns is None else min(s.start_ns, log_time)
            s.end_ns = log_time if s.end_ns is None else max(s.end_ns, log_time)
        if self.on_message is not None:
            self.on_message(channel, log_time, bytes(body[22:]))

    def chunk(self, body: memoryview, offset: int, length: int) -> None:
        scan = self.scan
        chunk = McapChunk(len(scan.chunks), offset, length, 0, 0, 0)
        scan.chunks.append(chunk)
        self.last_chunk = chunk
        if offset in self.summary_chunks:  # the index's copy of the range and channels, if the file has one
            chunk.start_ns, chunk.end_ns, ids = self.summary_chunks[offset]
            chunk.channel_ids |= ids
        records, problem = self.chunk_records(body, chunk)
        if problem:
            chunk.problem = problem
            if records is not None:  # the layout may still hold: learn its channels for the report
                try:
                    for op, rec in _records(records):
                        if op == _OP_MESSAGE and len(rec) >= 2 and _u16(rec, 0) in scan.channels:
                            chunk.channel_ids.add(_u16(rec, 0))
                except _Cut:
                    pass
            return
        assert records is not None
        try:
            parsed = _records(records)
        except _Cut:
            chunk.problem = "its records do not add up to its length (malformed)"
            return
        messages = [rec for op, rec in parsed if op == _OP_MESSAGE]
        if any(len(rec) < 22 for rec in messages):
            chunk.problem = "a message record in it is too short (malformed)"
            return
        for op, rec in parsed:
            if op in (_OP_SCHEMA, _OP_CHANNEL):
                self.record(op, rec, offset, length)
        self.last_chunk = chunk
        for rec in messages:
            chunk.channel_ids.add(_u16(rec, 0))
            self.message(rec)
        chunk.messages = len(messages)

    def chunk_records(self, body: memoryview, chunk: McapChunk) -> tuple[memoryview | None, str]:
        """The chunk's uncompressed records and "" — or what is wrong with it."""
        try:
            start, end, size, crc = struct.unpack_from("<QQQI", body, 0)
            if not chunk.start_ns and not chunk.end_ns:
                chunk.start_ns, chunk.end_ns = start, end
            chunk.crc = crc
            compression, at = _string(body, 28)
            _, at = _take(body, at, 8)
            data, _ = _take(body, at, _u64(body, at - 8))
        except (_Cut, struct.error, UnicodeDecodeError):
            return None, "its header is malformed"
        if compression not in DECOMPRESSORS:
            return None, f"unknown compression {compression!r}"
        try:
            raw = memoryview(DECOMPRESSORS[compression](bytes(data) if compression else data, size))
        except Exception as err:  # lz4/zstd raise their own error types on damaged frames
            return None, f"it does not decompress ({type(err).__name__}: {err})"
        if len(raw) != size:
            return raw, f"it holds {len(raw)} bytes, its header says {size}"
        if crc:
            computed = zlib.crc32(raw)
            if computed != crc:
                return raw, f"CRC mismatch (stored {crc:#010x}, computed {computed:#010x})"
        return raw, ""


def scan_mcap(path: str | Path, on_message: MessageCallback | None = None) -> McapScan:
    """Read ``path`` from its start as far as it is whole; ``on_message`` gets every usable message.

    Usable: in a chunk that decompresses to its declared size with a matching CRC (when it stores one) and
    whose records parse, or outside chunks. Messages come in file order, each after its channel's record.

    Raises:
        BagError: the file is missing or not MCAP.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            scanner = _Scanner(path, f, size, on_message)
            summary_start = scanner.read_summary()
            scanner.read_data(summary_start)
    except OSError as err:
        raise BagError(f"cannot read {path}: {err}") from err
    return scanner.scan
