"""Recording on a live graph loses nothing it wrote: real processes, real signals.

- SIGTERM to ``visuomotor record`` (what ``docker stop`` / systemd send) while a publisher runs: the signal
  reaches the recorder, the bag is closed and readable, the recorder process is gone, exit code 0.
- SIGKILL of the recorder node: MCAP keeps every complete chunk (``visuomotor bag repair`` makes the bag
  readable by our reader and by rosbags), sqlite3 every committed message.

Complete MCAP chunks are counted by an independent walk of the specification's record layout.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from graph_probe import GraphProbe, wait_until
from rclpy.duration import Duration
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.rosbag2 import Reader
from std_msgs.msg import String

from visuomotor.bag import BagError, BagReader, bag_typestore
from visuomotor_ros.launcher import NodeProcess

pytestmark = [pytest.mark.ros, pytest.mark.slow]

TOPIC = "/rec_recovery/text"
# Keep all: no message is replaced in the publisher's history before the recorder has it.
RELIABLE_ALL = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)


def chunk_messages(path: Path) -> int:
    """Messages in the complete chunk records of an MCAP file (uncompressed chunks, as ours are)."""
    if not path.exists():
        return 0
    data = path.read_bytes()
    at, count = 8, 0
    while at + 9 <= len(data):
        op, length = data[at], int.from_bytes(data[at + 1 : at + 9], "little")
        if at + 9 + length > len(data) or op == 0x0F:
            break
        if op == 0x06:
            records = at + 9 + 32 + int.from_bytes(data[at + 9 + 28 : at + 9 + 32], "little") + 8
            end = records + int.from_bytes(data[records - 8 : records], "little")
            while records < end:
                count += data[records] == 0x05
                records += 9 + int.from_bytes(data[records + 1 : records + 9], "little")
        at += 9 + length
    return count


def committed_messages(db: Path) -> int:
    """Messages another process sees committed in a sqlite3 bag (its write-ahead log included)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:  # the table is being created
        return 0


def texts(bag: Path) -> list[str]:
    with BagReader(bag) as reader:
        return [reader.decode(m).data for m in reader.messages()]


def rosbags_texts(bag: Path) -> list[str]:
    store = bag_typestore()
    with Reader(bag) as reader:
        return [store.deserialize_cdr(raw, conn.msgtype).data for conn, _, raw in reader.messages()]


class Publisher:
    """Publishes ``msg 0``, ``msg 1``, … reliably from the probe node, in bursts or from a thread."""

    def __init__(self, probe: GraphProbe) -> None:
        self.pub = probe.node.create_publisher(String, TOPIC, RELIABLE_ALL)
        self.sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def burst(self, n: int) -> None:
        for _ in range(n):
            self.pub.publish(String(data=f"msg {self.sent}"))
            self.sent += 1

    def acked(self) -> None:
        assert self.pub.wait_for_all_acked(Duration(seconds=10.0)), "the recorder did not ack"

    def start(self, period_s: float = 0.005) -> None:
        def loop() -> None:
            while not self._stop.wait(period_s):
                self.burst(1)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_to_visuomotor_record_closes_the_bag(probe: GraphProbe, tmp_path: Path) -> None:
    out = tmp_path / "recorded"
    params = tmp_path / "recorder.yaml"  # a deep subscription queue: a burst of 100 is never thinned
    params.write_text("recorder:\n  ros__parameters:\n    queue_depth: 1000\n")
    cli = subprocess.Popen(
        [sys.executable, "-m", "visuomotor.cli", "record", "--out", str(out), "--params", str(params), TOPIC],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    publisher = Publisher(probe)
    try:
        wait_until(lambda: bool(_children(cli.pid)), 30, "the recorder process")
        (recorder,) = _children(cli.pid)
        probe.wait_for_subscribers(TOPIC, timeout_s=30)
        publisher.burst(100)
        publisher.acked()
        # The recorder syncs within its 1 s period: the first 100 are on disk before the signal.
        wait_until(lambda: chunk_messages(out / "recorded.mcap") >= 100, 20, "100 messages on disk")
        publisher.start()  # still publishing when the signal comes
        cli.send_signal(signal.SIGTERM)
        output, _ = cli.communicate(timeout=60)
    finally:
        publisher.stop()
        if cli.poll() is None:
            cli.kill()
            cli.communicate()
    assert cli.returncode == 0, output
    assert "SIGTERM: stopping the recorder" in output and f"bag written: {out}" in output
    assert not _alive(recorder), "the recorder outlived `visuomotor record`"
    got = texts(out)
    assert got[:100] == [f"msg {i}" for i in range(100)]
    numbers = [int(t.split()[1]) for t in got]
    assert numbers == sorted(set(numbers))  # in order, none twice
    assert f"closed {out}: {len(got)} messages on 1 topics" in output
    assert rosbags_texts(out) == got


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_sigkill_of_the_recorder_loses_only_the_unsynced_tail(
    probe: GraphProbe, launch: Callable[..., NodeProcess], tmp_path: Path, storage: str
) -> None:
    out = tmp_path / "killed"
    storage_file = out / ("killed.mcap" if storage == "mcap" else "killed.db3")
    on_disk = chunk_messages if storage == "mcap" else committed_messages
    params = {
        "output": str(out),
        "topics": [TOPIC],
        "storage": storage,
        "sync_period_s": 0.2,
        "queue_depth": 1000,
    }
    recorder = launch("recorder", params)
    publisher = Publisher(probe)
    probe.wait_for_subscribers(TOPIC, timeout_s=30)
    publisher.burst(200)
    publisher.acked()
    wait_until(lambda: on_disk(storage_file) >= 200, 20, "200 messages synced to disk")
    publisher.burst(50)  # in the recorder's open chunk / transaction, or still on their way
    recorder.proc.send_signal(signal.SIGKILL)
    assert recorder.proc.wait(10) == -signal.SIGKILL
    synced = chunk_messages(storage_file) if storage == "mcap" else None

    with pytest.raises(BagError, match=r"visuomotor bag repair"):
        BagReader(out).open()
    result = subprocess.run(
        [sys.executable, "-m", "visuomotor.cli", "bag", "repair", str(out), "--out", str(tmp_path / "fixed")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    got = texts(tmp_path / "fixed")
    assert 200 <= len(got) <= 250
    if synced is not None:
        assert len(got) >= synced  # every message of every complete chunk
    assert got == [f"msg {i}" for i in range(len(got))]
    assert rosbags_texts(tmp_path / "fixed") == got
    print(f"{storage}: recorder SIGKILLed after 250 published: {len(got)} recovered")
