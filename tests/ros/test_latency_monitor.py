"""latency_monitor against a live sim: trails merge with the sim's render stage, drops are counted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from graph_probe import GraphProbe, wait_until
from sensor_msgs.msg import CameraInfo

from visuomotor.latency import FrameTrail, StageTiming
from visuomotor_interfaces.msg import FrameTrail as FrameTrailMsg
from visuomotor_interfaces.msg import LatencyReport
from visuomotor_ros.convert import stamp_to_ns, trail_to_msg
from visuomotor_ros.launcher import NodeProcess
from visuomotor_ros.qos import SENSOR, STATE

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_monitor_reports_stages_and_drops(
    probe: GraphProbe, launch: Callable[..., NodeProcess], tmp_path: Path
) -> None:
    json_path = tmp_path / "latency.json"
    launch("sim", {"clock_mode": "realtime"})
    monitor = launch("latency_monitor", {"json_path": str(json_path), "report_period_s": 0.5})
    trail_pub = probe.node.create_publisher(FrameTrailMsg, "/visuomotor/frame_trail", STATE)
    reports: list[LatencyReport] = []
    lock = threading.Lock()
    answered: list[int] = []

    # A stand-in pipeline stage: answers every other frame with a 2 ms "work" stage, so half are dropped.
    def on_info(msg: CameraInfo) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        with lock:
            n = len(answered)
            answered.append(stamp)
        if n % 2:
            return
        start = time.monotonic_ns()
        while time.monotonic_ns() - start < 2_000_000:
            pass
        trail = FrameTrail(stamp, (StageTiming("work", start, time.monotonic_ns()),))
        trail_pub.publish(trail_to_msg(trail))

    probe.node.create_subscription(CameraInfo, "/camera/camera/color/camera_info", on_info, SENSOR)
    probe.node.create_subscription(LatencyReport, "/visuomotor/latency", lambda m: reports.append(m), STATE)
    probe.wait_for_subscribers("/visuomotor/frame_trail", 2)  # monitor + sim's lockstep ack
    wait_until(lambda: bool(reports) and reports[-1].frames >= 60, 40, "a report over 60 frames")
    report = reports[-1]
    stages = [s.name for s in report.stages]
    assert stages == ["render", "encode", "work"]
    work = report.stages[2]
    assert 2.0 <= work.p50_ms < 10.0 and work.count == report.frames
    hops = {s.name: s for s in report.transports}
    assert set(hops) == {"render→encode", "encode→work"}
    assert 0.0 <= hops["encode→work"].p50_ms < 200.0
    assert report.end_to_end.count == report.frames
    assert report.end_to_end.p50_ms >= work.p50_ms + report.stages[0].p50_ms
    # Every other frame never completed: about half of the frames that left the horizon are drops.
    assert report.dropped >= 0.3 * report.frames

    monitor.stop()
    data = json.loads(json_path.read_text())
    assert data["frames"] >= report.frames
    assert list(data["stages"]) == ["render", "encode", "work"]
    assert "end_to_end" in monitor.output()  # the table printed on shutdown


def test_monitor_rejects_unknown_parameter(launch: Callable[..., NodeProcess]) -> None:
    proc = launch("latency_monitor", {"report_perod_s": 2.0})
    assert proc.proc.wait(30) == 2
    assert "report_perod_s" in proc.output()
