"""Bags that lose nothing they wrote: a writer killed with SIGKILL (a real process, a real signal) leaves a
bag `visuomotor bag repair` makes whole — MCAP: every message of the complete chunks; sqlite3: every
committed message — and a bag with corrupted bytes is refused with the chunk named, never replayed.

The complete chunks of an MCAP file are counted here by an independent walk of the specification's record
layout (not by the project's scanner), so the repair is checked against the file itself.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from bag_fixtures import replay_config
from rosbags.rosbag2 import Reader

from visuomotor.bag import (
    STATE_QOS,
    BagError,
    BagReader,
    BagWriter,
    bag_status,
    bag_typestore,
    repair_bag,
    string_message,
)
from visuomotor.cli import main
from visuomotor.replay import replay_offline
from visuomotor.sim.recording import SIM_TOPICS, SimBagSummary

# A writer in its own process: BagWriter with small bounds, one String per 2 ms, the index printed after
# each write. Killed from outside, it never closes the bag.
_WRITER = """
import sys, time
from pathlib import Path
from visuomotor.bag import STATE_QOS, BagWriter, string_message
bag = BagWriter(Path(sys.argv[1]), storage=sys.argv[2], chunk_bytes=4096, sync_period_s=0.2,
                commit_messages=50)
bag.open()
bag.add_topic("/recovery/text", "std_msgs/msg/String", [STATE_QOS])
i = 0
while True:
    bag.write("/recovery/text", 1_000_000_000 + i, string_message(bag.typestore, f"msg {i}"))
    print(i, flush=True)
    i += 1
    time.sleep(0.002)
"""


@dataclass(frozen=True)
class Chunk:
    offset: int  # of the chunk record
    payload: int  # offset of its (uncompressed) records
    payload_len: int
    messages: int


def complete_chunks(path: Path) -> list[Chunk]:
    """The whole chunk records of an MCAP file from its start (uncompressed chunks, as our writer writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89MCAP0\r\n"
    chunks = []
    at = 8
    while at + 9 <= len(data):
        op, length = data[at], int.from_bytes(data[at + 1 : at + 9], "little")
        if at + 9 + length > len(data) or op == 0x0F:  # cut inside this record / end of the data section
            break
        if op == 0x06:
            body = at + 9
            name_len = int.from_bytes(data[body + 28 : body + 32], "little")
            records = body + 32 + name_len + 8
            size = int.from_bytes(data[records - 8 : records], "little")
            k, count = records, 0
            while k < records + size:
                count += data[k] == 0x05
                k += 9 + int.from_bytes(data[k + 1 : k + 9], "little")
            chunks.append(Chunk(at, records, size, count))
        at += 9 + length
    return chunks


def _texts(bag: Path) -> list[str]:
    with BagReader(bag) as reader:
        return [reader.decode(m).data for m in reader.messages()]


def _rosbags_texts(bag: Path) -> list[str]:
    store = bag_typestore()
    with Reader(bag) as reader:
        return [store.deserialize_cdr(raw, conn.msgtype).data for conn, _, raw in reader.messages()]


def _start_writer(bag: Path, storage: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(bag), storage], stdout=subprocess.PIPE, text=True
    )


def _wait_written(proc: subprocess.Popen[str], n: int, timeout_s: float = 60.0) -> int:
    """Read the writer's progress until it wrote ``n`` messages; returns how many it wrote."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while line := proc.stdout.readline():
        if int(line) + 1 >= n:
            return int(line) + 1
        assert time.monotonic() < deadline, f"the writer did not write {n} messages in {timeout_s} s"
    pytest.fail(f"the writer exited with {proc.wait()} before writing {n} messages")


def _kill(proc: subprocess.Popen[str], seen: int) -> int:
    """SIGKILL; returns how many messages it said it wrote (``seen`` read before)."""
    assert proc.stdout is not None
    proc.send_signal(signal.SIGKILL)
    lines = proc.stdout.read().split()  # what it printed between the last read and the kill
    assert proc.wait(timeout=30) == -signal.SIGKILL
    return int(lines[-1]) + 1 if lines else seen


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "visuomotor.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_sigkill_mcap_repair_keeps_every_complete_chunk(tmp_path: Path) -> None:
    bag = tmp_path / "killed"
    proc = _start_writer(bag, "mcap")
    written = _kill(proc, _wait_written(proc, 400))
    chunks = complete_chunks(bag / "killed.mcap")
    in_chunks = sum(c.messages for c in chunks)
    # A kill loses at most the open chunk: fewer messages than a full one holds.
    assert 0 <= written - in_chunks <= max(c.messages for c in chunks) + 1, (written, in_chunks)
    assert not (bag / "metadata.yaml").exists()
    with pytest.raises(BagError, match=r"killed is truncated or corrupt .*`visuomotor bag repair .*killed`"):
        BagReader(bag).open()
    with pytest.raises(FileNotFoundError):  # rosbags wants the metadata.yaml a close writes
        Reader(bag).open()

    info = _cli("bag", "info", str(bag), "--json")
    assert info.returncode == 1, info.stderr
    status = json.loads(info.stdout)
    assert status["needs_repair"] and not status["closed"] and status["message_count"] == in_chunks
    assert any("was not closed" in p for p in status["problems"])

    out = tmp_path / "repaired"
    result = _cli("bag", "repair", str(bag), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"{in_chunks} messages on 1 topics from {len(chunks)} whole chunks" in result.stdout
    expected = [f"msg {i}" for i in range(in_chunks)]  # nothing lost before the open chunk, in order
    assert _texts(out) == expected
    assert _rosbags_texts(out) == expected
    assert not bag_status(out).needs_repair
    print(f"MCAP after SIGKILL: {in_chunks} of {written} written messages recovered ({len(chunks)} chunks)")


def test_sigkill_sqlite3_keeps_every_committed_message(tmp_path: Path) -> None:
    bag = tmp_path / "killed"
    db = bag / "killed.db3"
    proc = _start_writer(bag, "sqlite3")
    _wait_written(proc, 300)
    committed = 0
    deadline = time.monotonic() + 30
    while committed < 300:  # what another process sees committed, read from the write-ahead log
        assert time.monotonic() < deadline, f"only {committed} messages committed"
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        committed = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        conn.close()
    written = _kill(proc, _wait_written(proc, committed + 30))  # killed between two commits
    with pytest.raises(
        BagError, match=r"killed was not closed cleanly: killed\.db3-wal .*visuomotor bag repair"
    ):
        BagReader(bag).open()

    result = _cli("bag", "repair", str(bag))  # sqlite3: in place
    assert result.returncode == 0, result.stderr
    assert "in place (sqlite3)" in result.stdout
    assert not (bag / "killed.db3-wal").exists() and (bag / "metadata.yaml").is_file()
    texts = _texts(bag)
    kept = len(texts)
    assert committed <= kept <= written + 1
    assert written - kept <= 50 + 1  # commit_messages: at most the uncommitted tail is lost
    assert texts == [f"msg {i}" for i in range(kept)]
    assert _rosbags_texts(bag) == texts
    assert not bag_status(bag).needs_repair
    print(f"sqlite3 after SIGKILL: {kept} of {written} written messages kept ({committed} seen committed)")


def _corrupt_copy(sim_bag: SimBagSummary, tmp_path: Path) -> tuple[Path, int, Chunk, list[Chunk]]:
    bag = tmp_path / "corrupt"
    shutil.copytree(sim_bag.path, bag)
    storage = bag / "sim15.mcap"
    chunks = complete_chunks(storage)
    index = len(chunks) // 2
    chunk = chunks[index]
    data = bytearray(storage.read_bytes())
    start = chunk.payload + chunk.payload_len // 2
    data[start : start + 3000] = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    storage.write_bytes(bytes(data))
    return bag, index, chunk, chunks


def test_corrupt_payload_is_refused_naming_the_chunk_and_repair_drops_it(
    sim_bag: SimBagSummary, tmp_path: Path
) -> None:
    bag, index, chunk, chunks = _corrupt_copy(sim_bag, tmp_path)
    named = (
        rf"chunk {index} of sim15\.mcap \(byte offset {chunk.offset}, \d+ bytes; /\S+.*; log time "
        rf"\d+\.\d{{9}} – \d+\.\d{{9}} s; {chunk.messages} messages\) is corrupt \(CRC mismatch \(stored "
        r"0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)\).*`visuomotor bag repair .*corrupt --out DIR`"
    )
    with BagReader(bag) as reader, pytest.raises(BagError, match=named):
        for _ in reader.messages():
            pass
    with pytest.raises(BagError, match=rf"chunk {index} of sim15\.mcap .* is corrupt \(CRC mismatch"):
        replay_offline(bag, replay_config())  # never replays different frames
    status = bag_status(bag)
    assert status.needs_repair and status.bad_chunks == 1 and status.closed
    assert any(
        f"corrupt chunk {index} of sim15.mcap" in p and any(t in p for t in SIM_TOPICS.values())
        for p in status.problems
    )

    report = repair_bag(bag, tmp_path / "repaired")
    total = sum(c.messages for c in chunks)
    assert report.message_count == total - chunk.messages
    assert report.dropped and report.dropped[0].startswith(f"chunk {index} of sim15.mcap")
    with BagReader(tmp_path / "repaired") as reader:
        assert sum(1 for _ in reader.messages()) == total - chunk.messages
    with Reader(tmp_path / "repaired") as reader:
        assert sum(1 for _ in reader.messages()) == total - chunk.messages


def _store_data_crc(storage: Path) -> int:
    """Store the data-section CRC of a closed file (ours leave it 0: none); returns where DataEnd is."""
    data = bytearray(storage.read_bytes())
    summary_start = int.from_bytes(data[-37 + 9 : -37 + 17], "little")
    data_end = summary_start - 13
    assert data[data_end] == 0x0F
    data[data_end + 9 : data_end + 13] = zlib.crc32(data[:data_end]).to_bytes(4, "little")
    storage.write_bytes(bytes(data))
    return data_end


def test_data_section_crc_is_checked_where_present(tmp_path: Path) -> None:
    with BagWriter(tmp_path / "b", chunk_bytes=1024) as bag:
        bag.add_topic("/t", "std_msgs/msg/String", [STATE_QOS])
        for i in range(100):
            bag.write("/t", i + 1, string_message(bag.typestore, f"msg {i}"))
    storage = tmp_path / "b" / "b.mcap"
    _store_data_crc(storage)
    assert _texts(tmp_path / "b") == [f"msg {i}" for i in range(100)]
    chunks = complete_chunks(storage)
    whole = storage.read_bytes()
    # A byte outside every chunk (the message index after chunk 2): only the data-section CRC sees it.
    after = chunks[2].payload + chunks[2].payload_len + 20
    storage.write_bytes(whole[:after] + bytes([whole[after] ^ 0xFF]) + whole[after + 1 :])
    with pytest.raises(BagError, match=r"b\.mcap: data-section CRC mismatch .*visuomotor bag repair"):
        BagReader(tmp_path / "b").open()
    # A byte in chunk 1: refused at open, the chunk named.
    at = chunks[1].payload + 30
    storage.write_bytes(whole[:at] + bytes([whole[at] ^ 0xFF]) + whole[at + 1 :])
    with pytest.raises(
        BagError, match=rf"chunk 1 of b\.mcap \(byte offset {chunks[1].offset}, .*CRC mismatch"
    ):
        BagReader(tmp_path / "b").open()


def test_bag_info_of_a_closed_bag(sim_bag: SimBagSummary, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bag", "info", str(sim_bag.path)]) == 0
    printed = capsys.readouterr().out
    assert "state:     closed cleanly" in printed and "storage:   mcap (sim15.mcap" in printed
    assert "/camera/camera/color/image_raw" in printed and "sensor_msgs/msg/Image" in printed
    assert main(["bag", "info", str(sim_bag.path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["closed"] and not status["problems"] and status["bad_chunks"] == 0
    assert status["message_count"] == sum(t["count"] for t in status["topics"]) == 15 * len(SIM_TOPICS)
    assert status["duration_s"] == pytest.approx(
        (sim_bag.stamps_ns[-1] - sim_bag.stamps_ns[0]) / 1e9, abs=0.2
    )
    assert main(["bag", "info", str(sim_bag.path.parent / "nope")]) == 2
    assert "nope does not exist" in capsys.readouterr().err
    assert main(["bag", "repair", str(sim_bag.path), "--out", str(sim_bag.path)]) == 2
    assert "exists already" in capsys.readouterr().err
