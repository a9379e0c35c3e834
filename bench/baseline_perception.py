"""baseline_perception: what a user would build instead of our pipeline — a yolo_ros-style rclpy node.

One node (``baseline_perception``), one process, a SingleThreadedExecutor. It subscribes to the RealSense
topics (colour rgb8/bgr8, aligned depth 16UC1 in mm, colour camera_info; best effort, keep last 1 as
yolo_ros does), pairs the three by identical header stamp and, in the subscription callback, runs
ultralytics ``YOLO(<weights .pt>).track(frame, persist=True, tracker="bytetrack.yaml", imgsz=<imgsz>)``
(torch on 2 threads). Each tracked box is lifted to 3D with the project's own
:class:`visuomotor.geometry.Localiser` (``LocaliserConfig`` defaults, intrinsics from camera_info,
extrinsics from ``config/extrinsics/sim.yaml``), so the 3D step is identical to ours, and the result goes
out as ``visuomotor_interfaces/TrackArray`` on ``/visuomotor/tracks`` (stamp = the image's, frame
``base_link``; ByteTrack's IDs, velocity zero, state confirmed, score = box confidence) with the trail
``detect`` (colour → BGR + the ultralytics track call: predictor + ByteTrack) and ``localise`` on
``time.monotonic_ns()``, so the same latency tools read it as our pipeline's output.

Parameters (ROS, with defaults): ``weights`` (``models/detector_yolov8n.pt``; relative paths are under the
repository root), ``imgsz`` (384), ``extrinsics_file`` (``config/extrinsics/sim.yaml``), ``topics.color``,
``topics.depth``, ``topics.camera_info`` (the realsense2_camera names) and ``topics.tracks``.

Needs the training extras (torch, ultralytics, lap: ``./scripts/setup.sh --train``); without them it
prints one line naming that command and exits 2. It never imports MuJoCo or ``visuomotor.sim``: the CUDA
build of torch crashes in a process that loaded MuJoCo's EGL. ultralytics runs offline (``YOLO_OFFLINE``,
no auto-install, its config under ``results/ultralytics_config``).

Usage::

    source scripts/env.sh
    python bench/baseline_perception.py --ros-args -p weights:=models/detector_yolov8n.pt -p imgsz:=384
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from visuomotor.errors import VisuomotorError
from visuomotor.geometry import (
    CameraIntrinsics,
    Localiser,
    LocaliserConfig,
    depth_to_metres,
    load_extrinsics,
)
from visuomotor.interfaces import Detection, Track, TrackState
from visuomotor.latency import StageTiming
from visuomotor_interfaces.msg import TrackArray
from visuomotor_ros.convert import (
    image_array,
    intrinsics_from_camera_info,
    stamp_to_ns,
    timings_to_msg,
    track_to_msg,
)
from visuomotor_ros.qos import STATE, sensor_qos

ROOT = Path(__file__).resolve().parents[1]
FIX = "./scripts/setup.sh --train"
TORCH_THREADS = 2
PENDING_STAMPS = 8  # frames waiting for their other messages; older ones are dropped

PARAMS: dict[str, Any] = {
    "weights": "models/detector_yolov8n.pt",
    "imgsz": 384,
    "extrinsics_file": "config/extrinsics/sim.yaml",
    "topics.color": "/camera/camera/color/image_raw",
    "topics.depth": "/camera/camera/aligned_depth_to_color/image_raw",
    "topics.camera_info": "/camera/camera/color/camera_info",
    "topics.tracks": "/visuomotor/tracks",
}


def _offline_ultralytics() -> None:
    """Environment for ultralytics without network; must run before it is imported (read at import)."""
    config_dir = ROOT / "results" / "ultralytics_config"
    font_dir = config_dir / "Ultralytics"
    font_dir.mkdir(parents=True, exist_ok=True)
    font = font_dir / "Arial.ttf"  # ultralytics fetches Arial.ttf otherwise, even offline
    if not font.is_file():
        import matplotlib

        shutil.copyfile(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", font)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)


def load_yolo() -> Any:
    """ultralytics' ``YOLO`` class, torch on 2 threads; exits 2 with one line when the extras are missing."""
    _offline_ultralytics()
    try:
        import lap  # noqa: F401  (ByteTrack imports it on first use; fail here, not on the first frame)
        import torch
        from ultralytics import YOLO
        from ultralytics.utils import SETTINGS
    except (ImportError, OSError) as err:
        print(f"baseline_perception: torch/ultralytics/lap not importable ({err}): run {FIX}",
              file=sys.stderr)
        raise SystemExit(2) from None
    SETTINGS.update({"sync": False})  # no usage events
    torch.set_num_threads(TORCH_THREADS)
    return YOLO


def resolve(path: str) -> Path:
    """An absolute path as is; a relative one under the repository root."""
    p = Path(path)
    return p if p.is_absolute() else ROOT / p


class BaselinePerception(Node):
    """Colour + depth + camera_info (same stamp) → ultralytics track → our localiser → TrackArray."""

    def __init__(self, yolo_cls: Any) -> None:
        super().__init__("baseline_perception")
        p = {name: self.declare_parameter(name, default).value for name, default in PARAMS.items()}
        weights = resolve(str(p["weights"]))
        if not weights.is_file():
            raise VisuomotorError(f"weights {weights} not found (parameter weights)")
        self._imgsz = int(p["imgsz"])
        self._config = LocaliserConfig()
        self._extrinsics = load_extrinsics(resolve(str(p["extrinsics_file"])))
        self._localiser: Localiser | None = None
        self._intrinsics: CameraIntrinsics | None = None
        self._model = yolo_cls(str(weights))
        self._names: dict[int, str] = dict(self._model.names)
        self._warm_up()
        self._pending: dict[int, dict[str, Any]] = {}
        self._first_frame: dict[int, int] = {}  # ByteTrack id → frame index of its first appearance
        self._hits: dict[int, int] = {}
        self.frames = 0
        self.skipped_frames = 0
        self._detect_ns: list[int] = []
        self._pub = self.create_publisher(TrackArray, p["topics.tracks"], STATE)
        qos = sensor_qos(1)  # best effort, keep last 1: yolo_ros' sensor-data QoS at depth 1
        for key, msg_type in (("color", Image), ("depth", Image), ("camera_info", CameraInfo)):
            self.create_subscription(
                msg_type, p[f"topics.{key}"], lambda m, k=key: self._push(k, m), qos
            )
        self.get_logger().info(
            f"ultralytics track (ByteTrack) on {weights.name} at {self._imgsz} px, torch threads "
            f"{TORCH_THREADS}; {p['topics.color']} + {p['topics.depth']} → {p['topics.tracks']}"
        )

    def _warm_up(self) -> None:
        """A few calls on a blank frame (model fuse, first-call allocations), then a fresh ByteTrack."""
        blank = np.zeros((480, 640, 3), dtype=np.uint8)
        for _ in range(3):
            self._model.track(blank, persist=True, tracker="bytetrack.yaml", imgsz=self._imgsz, verbose=False)
        for tracker in self._model.predictor.trackers:
            tracker.reset()

    def _push(self, key: str, msg: Any) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        entry = self._pending.setdefault(stamp, {})
        entry[key] = msg
        if len(entry) == 3:
            # This frame is complete: it and every older incomplete frame leave the buffer.
            for s in [s for s in self._pending if s <= stamp]:
                del self._pending[s]
            self._on_frame(entry["color"], entry["depth"], entry["camera_info"])
        elif len(self._pending) > PENDING_STAMPS:
            del self._pending[min(self._pending)]

    def _on_frame(self, color: Image, depth: Image, info: CameraInfo) -> None:
        start = time.monotonic_ns()
        try:
            pixels = image_array(color)
            if color.encoding == "rgb8":
                bgr = np.ascontiguousarray(pixels[:, :, ::-1])
            elif color.encoding == "bgr8":
                bgr = pixels
            else:
                raise VisuomotorError(f"colour encoding {color.encoding!r}: expected rgb8 or bgr8")
            result = self._model.track(
                bgr, persist=True, tracker="bytetrack.yaml", imgsz=self._imgsz, verbose=False
            )[0]
            boxes = result.boxes
            tracked: list[tuple[int, Detection]] = []
            if boxes is not None and boxes.id is not None:
                ids = boxes.id.int().cpu().numpy()
                xyxy = boxes.xyxy.cpu().numpy().astype(float)
                conf = boxes.conf.cpu().numpy().astype(float)
                cls = boxes.cls.int().cpu().numpy()
                for tid, box, score, c in zip(ids, xyxy, conf, cls, strict=True):
                    x0, y0, x1, y1 = (float(v) for v in box)
                    tracked.append((int(tid), Detection(int(c), self._names[int(c)], float(score),
                                                        (x0, y0, x1, y1))))
            detected = time.monotonic_ns()
            intrinsics = intrinsics_from_camera_info(info)
            if intrinsics != self._intrinsics:
                self._localiser = Localiser(self._config, intrinsics, self._extrinsics)
                self._intrinsics = intrinsics
            assert self._localiser is not None
            raw = image_array(depth)
            depth_img = raw if depth.encoding in ("16UC1", "mono16") else depth_to_metres(raw, depth.encoding)
            located = self._localiser.localise([d for _, d in tracked], depth_img)
            track_of = {id(d): tid for tid, d in tracked}
            tracks = []
            for obj in located.objects:
                tid = track_of[id(obj.detection)]
                self._first_frame.setdefault(tid, self.frames)
                self._hits[tid] = self._hits.get(tid, 0) + 1
                tracks.append(Track(
                    tid, obj.class_id, obj.class_name, obj.position_m, (0.0, 0.0, 0.0), TrackState.CONFIRMED,
                    self.frames - self._first_frame[tid] + 1, self._hits[tid], 0, obj.score,
                    self._config.target_frame,
                ))
            done = time.monotonic_ns()
        except VisuomotorError as err:
            self.skipped_frames += 1
            self.get_logger().warning(f"skipping a frame: {err}", throttle_duration_sec=2.0)
            return
        out = TrackArray()
        out.header.stamp = color.header.stamp
        out.header.frame_id = self._config.target_frame
        out.tracks = [track_to_msg(t) for t in tracks]
        out.timings = timings_to_msg(
            (StageTiming("detect", start, detected), StageTiming("localise", detected, done))
        )
        self._pub.publish(out)
        self.frames += 1
        self._detect_ns.append(detected - start)

    def close(self) -> None:
        if self._detect_ns:
            ms = np.asarray(self._detect_ns) / 1e6
            print(
                f"[baseline_perception] {self.frames} frames ({self.skipped_frames} skipped); detect p50 "
                f"{np.percentile(ms, 50):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms",
                file=sys.stderr,
            )


def main(args: list[str] | None = None) -> int:
    yolo_cls = load_yolo()  # torch before anything else heavy; exits 2 without the extras
    rclpy.init(args=args if args is not None else sys.argv)
    node: BaselinePerception | None = None
    code = 0
    try:
        node = BaselinePerception(yolo_cls)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        try:
            executor.spin()
        finally:
            executor.shutdown(timeout_sec=5.0)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except VisuomotorError as err:
        print(f"[baseline_perception] error: {err}", file=sys.stderr)
        code = 2
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
