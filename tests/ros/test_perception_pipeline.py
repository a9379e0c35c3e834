"""The composed perception process on the sim's camera: tracks match the ground truth, bad input is survived.

Real processes on a real DDS graph: the sim, and the perception pipeline node (detector → localiser →
tracker in-process) + monitor + overlay in one process with the shipped ONNX detector.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from graph_probe import GraphProbe, wait_until
from sensor_msgs.msg import CameraInfo, Image

from visuomotor.geometry import CameraIntrinsics
from visuomotor_interfaces.msg import Detection2DArray, LatencyReport, SimGroundTruth, TrackArray
from visuomotor_ros.convert import intrinsics_to_camera_info, numpy_to_image, stamp_to_ns
from visuomotor_ros.launcher import NodeProcess
from visuomotor_ros.qos import SENSOR, STATE

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "detector_yolov8n.onnx"  # shipped with the repository
PERCEPTION_FILES = [ROOT / "config" / "perception.yaml"]


def _start(launch: Callable[..., NodeProcess], **detector: object) -> tuple[NodeProcess, NodeProcess]:
    sim = launch("sim", {"seed": 4}, params_files=[ROOT / "config" / "sim.yaml"])
    params = {"perception:detector.model_path": str(MODEL),
              **{f"perception:detector.{k}": v for k, v in detector.items()}}
    perception = launch("perception", params, params_files=PERCEPTION_FILES)
    return sim, perception


def test_tracks_follow_the_ground_truth(probe: GraphProbe, launch: Callable[..., NodeProcess]) -> None:
    sim, perception = _start(launch)
    lock = threading.Lock()
    tracks: list[TrackArray] = []
    truth: dict[int, SimGroundTruth] = {}
    reports: list[LatencyReport] = []

    def on_tracks(m: TrackArray) -> None:
        with lock:
            tracks.append(m)

    def on_truth(m: SimGroundTruth) -> None:
        with lock:
            truth[stamp_to_ns(m.header.stamp)] = m

    probe.node.create_subscription(TrackArray, "/visuomotor/tracks", on_tracks, STATE)
    probe.node.create_subscription(SimGroundTruth, "/sim/ground_truth", on_truth, STATE)
    probe.node.create_subscription(LatencyReport, "/visuomotor/latency", reports.append, STATE)
    wait_until(lambda: len(tracks) >= 60, 90, "60 track messages")
    assert perception.alive() and sim.alive()
    with lock:
        last = [m for m in tracks[-20:] if stamp_to_ns(m.header.stamp) in truth]
        pairs = [(m, truth[stamp_to_ns(m.header.stamp)]) for m in last]
    assert len(pairs) >= 10
    ids_per_cube: dict[str, set[int]] = {}
    for msg, gt in pairs:
        assert msg.header.frame_id == "base_link"
        confirmed = [t for t in msg.tracks if t.state == 1]
        for obj in gt.objects:
            if not obj.class_name.endswith("_cube"):
                continue
            p = np.array([obj.pose.position.x, obj.pose.position.y, obj.pose.position.z])
            same = [t for t in confirmed if t.class_name == obj.class_name]
            assert same, f"no confirmed {obj.class_name} track"
            d = [np.linalg.norm(np.array([t.position.x, t.position.y, t.position.z]) - p) for t in same]
            assert min(d) < 0.02, f"{obj.name}: nearest track {min(d) * 1000:.1f} mm away"
            ids_per_cube.setdefault(obj.name, set()).add(same[int(np.argmin(d))].id)
    assert all(len(ids) == 1 for ids in ids_per_cube.values()), ids_per_cube  # stable identities
    stages = [t.stage for t in pairs[-1][0].timings]
    assert stages == ["detect.pre", "detect.infer", "detect.post", "localise", "track"]
    # The overlay is drawn only once someone watches it.
    overlays: list[Image] = []
    probe.node.create_subscription(Image, "/visuomotor/overlay", overlays.append, SENSOR)
    wait_until(lambda: len(overlays) >= 3, 30, "overlay images while subscribed")
    assert (overlays[-1].width, overlays[-1].height, overlays[-1].encoding) == (640, 480, "rgb8")
    wait_until(lambda: bool(reports) and reports[-1].frames > 0, 10, "a latency report")
    report_stages = [s.name for s in reports[-1].stages]
    assert report_stages[:2] == ["render", "encode"] and report_stages[-1] == "track"


def test_bad_frames_are_skipped_and_logged(probe: GraphProbe, launch: Callable[..., NodeProcess]) -> None:
    """Wrong encoding, an empty image and colour/depth of different sizes: logged skips, no crash."""
    perception = launch("perception", {"perception:detector.model_path": str(MODEL)},
                        params_files=PERCEPTION_FILES)
    color = probe.node.create_publisher(Image, "/camera/camera/color/image_raw", SENSOR)
    depth = probe.node.create_publisher(Image, "/camera/camera/aligned_depth_to_color/image_raw", SENSOR)
    info = probe.node.create_publisher(CameraInfo, "/camera/camera/color/camera_info", SENSOR)
    dets: list[Detection2DArray] = []
    probe.node.create_subscription(Detection2DArray, "/visuomotor/detections", dets.append, STATE)
    probe.wait_for_subscribers("/camera/camera/color/image_raw")
    probe.wait_for_publishers("/visuomotor/detections")
    rgb = np.full((480, 640, 3), 90, np.uint8)
    stamp = [1_000_000_000]

    frame = "camera_color_optical_frame"
    bad = {
        "yuv422": Image(height=4, width=4, encoding="yuv422", step=8, data=bytes(32)),
        "empty image": Image(height=0, width=0, encoding="rgb8", step=0, data=b""),
    }

    def publish_good() -> None:
        # A good colour frame, then a depth frame of another size and camera_info for the same stamp.
        stamp[0] += 33_000_000
        color.publish(numpy_to_image(rgb, "rgb8", stamp[0], frame))
        depth.publish(numpy_to_image(np.full((240, 320), 800, np.uint16), "16UC1", stamp[0], frame))
        info.publish(intrinsics_to_camera_info(CameraIntrinsics.from_fovy(640, 480, 1.0), stamp[0], frame))

    def logged_after(publish: Callable[[], None], needle: str) -> Callable[[], bool]:
        # Discovery does not mean matched, and the image queue keeps only the newest frame: publish the
        # same input again, alone, until the process has logged it.
        def check() -> bool:
            publish()
            return needle in perception.output()

        return check

    for needle, msg in bad.items():
        wait_until(logged_after(lambda m=msg: color.publish(m), needle), 30, f"a logged skip of {needle!r}",
                   period_s=0.2)
    wait_until(logged_after(publish_good, "align depth to colour"), 30, "the size mismatch logged",
               period_s=0.2)
    wait_until(lambda: len(dets) >= 1, 20, "detections of the good frames")
    assert perception.alive()


def test_detector_node_refuses_a_missing_or_broken_model(
    launch: Callable[..., NodeProcess], tmp_path: Path
) -> None:
    missing = launch("detector", {"model_path": str(tmp_path / "nope.onnx")})
    assert missing.proc.wait(60) == 2
    assert "nope.onnx" in missing.output() and "not found" in missing.output()
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not an onnx model")
    broken = launch("detector", {"model_path": str(garbage)})
    assert broken.proc.wait(60) == 2
    assert "garbage.onnx" in broken.output()


def test_time_going_back_starts_the_tracks_afresh(
    probe: GraphProbe, launch: Callable[..., NodeProcess]
) -> None:
    """A sim reset or a looping bag rewinds the stamps: the frames after it are tracked, not skipped as
    out of order until time passes the old stamps (they were, for as long as the sim had run)."""
    perception = launch("perception", {"perception:detector.model_path": str(MODEL)},
                        params_files=PERCEPTION_FILES)
    color = probe.node.create_publisher(Image, "/camera/camera/color/image_raw", SENSOR)
    depth = probe.node.create_publisher(Image, "/camera/camera/aligned_depth_to_color/image_raw", SENSOR)
    info = probe.node.create_publisher(CameraInfo, "/camera/camera/color/camera_info", SENSOR)
    lock = threading.Lock()
    stamps: list[int] = []

    def on_tracks(m: TrackArray) -> None:
        with lock:
            stamps.append(stamp_to_ns(m.header.stamp))

    probe.node.create_subscription(TrackArray, "/visuomotor/tracks", on_tracks, STATE)
    probe.wait_for_subscribers("/camera/camera/color/image_raw")
    probe.wait_for_publishers("/visuomotor/tracks")
    frame, rgb = "camera_color_optical_frame", np.full((480, 640, 3), 90, np.uint8)
    intrinsics = CameraIntrinsics.from_fovy(640, 480, 1.0)
    stamp = [20_000_000_000]

    def publish(step_ns: int = 33_000_000) -> None:
        stamp[0] += step_ns
        color.publish(numpy_to_image(rgb, "rgb8", stamp[0], frame))
        depth.publish(numpy_to_image(np.full((480, 640), 800, np.uint16), "16UC1", stamp[0], frame))
        info.publish(intrinsics_to_camera_info(intrinsics, stamp[0], frame))

    def tracked_since(t_ns: int) -> Callable[[], bool]:
        def check() -> bool:
            publish()
            with lock:
                return any(t_ns <= s < t_ns + 10_000_000_000 for s in stamps)

        return check

    wait_until(tracked_since(20_000_000_000), 30, "tracks of the frames at 20 s", period_s=0.05)
    stamp[0] = 500_000_000  # the sim reset: back to 0.5 s
    wait_until(tracked_since(500_000_000), 10, "tracks of the frames after time went back", period_s=0.05)
    assert "tracks reset" in perception.output() and perception.alive()
