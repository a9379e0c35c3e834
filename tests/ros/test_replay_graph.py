"""The recorder writes what the graph publishes; the replay node plays a bag into the perception pipeline,
which then tracks what the offline replay of the same bag tracks.

Real processes on a real DDS graph (recorder, replay, perception with the shipped ONNX detector).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from graph_probe import GraphProbe, wait_until
from rclpy.duration import Duration
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_msgs.msg import String

from visuomotor.bag import BagReader, color_array
from visuomotor.detection import DetectorConfig
from visuomotor.interfaces import TrackState
from visuomotor.latency import FrameTrail, StageTiming
from visuomotor.replay import ReplayConfig, replay_offline
from visuomotor.sim.recording import SIM_TOPICS, record_sim_bag
from visuomotor_interfaces.msg import FrameTrail as FrameTrailMsg
from visuomotor_interfaces.msg import TrackArray
from visuomotor_ros.convert import numpy_to_image, stamp_to_ns, trail_to_msg
from visuomotor_ros.launcher import NodeProcess
from visuomotor_ros.qos import CLOCK, SENSOR, STATE

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "detector_yolov8n.onnx"
PERCEPTION_FILES = [ROOT / "config" / "perception.yaml"]
CAMERA = [SIM_TOPICS["color"], SIM_TOPICS["depth"], SIM_TOPICS["color_info"]]


def test_recorder_writes_a_valid_bag(
    probe: GraphProbe, launch: Callable[..., NodeProcess], tmp_path: Path
) -> None:
    node = probe.node
    text = node.create_publisher(String, "/rec_test/text", STATE)
    image = node.create_publisher(Image, "/rec_test/image", STATE)
    lossy = node.create_publisher(Image, "/rec_test/lossy", SENSOR)
    trail = node.create_publisher(FrameTrailMsg, "/rec_test/trail", STATE)
    node.create_publisher(String, "/rec_test/ignored", STATE)
    out = tmp_path / "recorded"
    topics = ["/rec_test/text", "/rec_test/image", "/rec_test/lossy", "/rec_test/trail"]
    recorder = launch("recorder", {"output": str(out), "topics": topics})
    for t in topics:
        probe.wait_for_subscribers(t)
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 255, (4, 6, 3), dtype=np.uint8) for _ in range(5)]
    for i in range(10):
        text.publish(String(data=f"msg {i}"))
    for i, p in enumerate(pixels):
        image.publish(numpy_to_image(p, "rgb8", 1_000 + i, "cam"))
    lossy.publish(numpy_to_image(pixels[0], "rgb8", 7, "cam"))
    trail.publish(trail_to_msg(FrameTrail(42, (StageTiming("detect", 1, 2), StageTiming("track", 3, 4)))))
    for pub in (text, image, trail):  # reliable: every message is in the recorder's reader before we stop it
        assert pub.wait_for_all_acked(Duration(seconds=5.0))
    assert recorder.stop() == 0, recorder.output()
    meta = yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 9 and meta["storage_identifier"] == "mcap"
    with BagReader(out) as bag:
        assert set(bag.topics) == set(topics)
        assert bag.topics["/rec_test/text"].count == 10 and bag.topics["/rec_test/image"].count == 5
        assert bag.topics["/rec_test/lossy"].offered_qos[0].reliability.name == "BEST_EFFORT"
        assert bag.topics["/rec_test/text"].offered_qos[0].reliability.name == "RELIABLE"
        assert [m.data for _, m in bag.read("/rec_test/text")] == [f"msg {i}" for i in range(10)]
        for (_, msg), p in zip(bag.read("/rec_test/image"), pixels, strict=True):
            np.testing.assert_array_equal(color_array(msg)[0], p)
        ((_, t),) = bag.read("/rec_test/trail")
        assert [(s.stage, s.start_ns, s.end_ns) for s in t.timings] == [("detect", 1, 2), ("track", 3, 4)]


def test_graph_replay_tracks_match_the_offline_replay(
    probe: GraphProbe, launch: Callable[..., NodeProcess], tmp_path: Path
) -> None:
    bag = record_sim_bag(tmp_path / "sim", 30, seed=4)
    offline = replay_offline(
        bag.path,
        ReplayConfig.from_params_files(
            ROOT / "config",
            required=True,
            detector=DetectorConfig(model_path=str(MODEL)),
            extrinsics_path=str(ROOT / "config" / "extrinsics" / "sim.yaml"),
        ),
    )
    lock = threading.Lock()
    tracks: list[TrackArray] = []
    clock: list[int] = []

    def on_tracks(m: TrackArray) -> None:
        with lock:
            tracks.append(m)

    probe.node.create_subscription(TrackArray, "/visuomotor/tracks", on_tracks, STATE)
    probe.node.create_subscription(Clock, "/clock", lambda m: clock.append(stamp_to_ns(m.clock)), CLOCK)
    launch("perception", {"perception:detector.model_path": str(MODEL)}, params_files=PERCEPTION_FILES)
    for topic in CAMERA:
        probe.wait_for_subscribers(topic, timeout_s=60)
    replay = launch(
        "replay",
        {"bag": str(bag.path), "rate": 1.0, "topics": CAMERA, "clock": True, "wait_for_subscribers_s": 10.0},
    )
    assert replay.proc.wait(30) == 0, replay.output()
    assert "bag done: published 90 messages" in replay.output()
    last = bag.stamps_ns[-1]
    # The detector keeps the newest image, so the bag's last frame is never dropped: wait for its tracks.
    wait_until(
        lambda: any(stamp_to_ns(m.header.stamp) == last for m in tracks), 30, "the last frame's tracks"
    )
    with lock:
        final = next(m for m in tracks if stamp_to_ns(m.header.stamp) == last)
        stamps = {stamp_to_ns(m.header.stamp) for m in tracks}
    assert stamps <= set(bag.stamps_ns)  # header stamps pass through the replay unchanged
    assert clock and bag.stamps_ns[0] <= min(clock) and max(clock) <= last + 100_000_000
    graph = {
        t.class_name: np.array([t.position.x, t.position.y, t.position.z])
        for t in final.tracks
        if t.state == TrackState.CONFIRMED
    }
    ref = {
        t.class_name: np.array(t.position_m)
        for t in offline.frames[-1].tracks
        if t.state == TrackState.CONFIRMED
    }
    assert set(graph) == set(ref) == {"red_cube", "green_cube", "blue_cube", "bin"}
    for name, p in ref.items():
        assert np.linalg.norm(graph[name] - p) < 0.02, (name, graph[name], p)
