"""Synthetic replay files with known numbers, for the report tests.

A 10-frame run of two static cubes (red_0, green_0) seen by a 640×480 camera:

- timing: decode 1 ms, detect 10 + k ms (frame k), localise 2 ms, track 0.5 ms, 0.1 ms between stages;
  frame k starts at k·100 ms. End to end = 13.8 + k ms.
- recorded trails (live): camera 1 ms, 3 ms gap, detect 12 + k ms, 1 ms, localise 2 ms, 1 ms, track
  1 ms, 2 ms, policy 5 ms (k = 0..4): end to end 28 + k ms; plus one trail that is not a chain.
- detections: exactly the ground-truth boxes (score 0.9), plus a blue false positive in frame 0.
- objects: red off by (k + 1) mm in x, green by 2 mm in y, plus the blue false positive (no ground truth).
- tracks: red → id 1; green → id 2 in frames 0–4 and id 3 in frames 5–9 (one ID switch), all CONFIRMED,
  plus a TENTATIVE track that must not be scored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FRAMES = 10
MS = 1_000_000
STAGES = ["decode", "detect", "localise", "track"]
CUBES = {
    "red_0": ("red_cube", (0.5, 0.0, 0.1), [100.0, 100.0, 150.0, 150.0]),
    "green_0": ("green_cube", (0.6, 0.1, 0.1), [300.0, 200.0, 350.0, 250.0]),
}
LIVE_STAGES = [("camera", 1, 3), ("detect", 12, 1), ("localise", 2, 1), ("track", 1, 2), ("policy", 5, 0)]


def _frame(k: int, *, ground_truth: bool, id_switch: bool, box_shift_px: float) -> dict[str, Any]:
    gt, detections, objects, tracks = [], [], [], []
    for name, (cls, pos, box) in CUBES.items():
        gt.append(
            {"name": name, "class_name": cls, "position_m": list(pos), "extent_m": [0.05] * 3, "box_px": box}
        )
        shifted = [box[0] + box_shift_px, box[1], box[2] + box_shift_px, box[3]]
        detections.append({"class_name": cls, "score": 0.9, "box_px": shifted})
        offset = (0.001 * (k + 1), 0.0, 0.0) if cls == "red_cube" else (0.0, 0.002, 0.0)
        objects.append({"class_name": cls, "position_m": [p + o for p, o in zip(pos, offset, strict=True)]})
        track_id = 1 if cls == "red_cube" else (3 if id_switch and k >= 5 else 2)
        tracks.append(
            {"track_id": track_id, "class_name": cls, "state": "CONFIRMED", "position_m": list(pos)}
        )
    tracks.append(
        {"track_id": 99, "class_name": "red_cube", "state": "TENTATIVE", "position_m": [0.0, 0.0, 0.0]}
    )
    if k == 0:
        detections.append({"class_name": "blue_cube", "score": 0.3, "box_px": [500.0, 400.0, 540.0, 440.0]})
        objects.append({"class_name": "blue_cube", "position_m": [0.9, -0.3, 0.1]})
    return {
        "index": k,
        "stamp_ns": 1_000_000_000 + k * 33 * MS,
        "detections": detections,
        "objects": objects,
        "tracks": tracks,
        "ground_truth": gt if ground_truth else None,
    }


def _timing(k: int, slow: float) -> dict[str, Any]:
    t = 5_000 * MS + k * 100 * MS
    spans = {}
    for stage, ms in zip(STAGES, (1.0, 10.0 + k, 2.0, 0.5), strict=True):
        dur = round(ms * slow * MS)
        spans[stage] = {"start_ns": t, "end_ns": t + dur}
        t += dur + MS // 10
    return {"index": k, "stamp_ns": 1_000_000_000 + k * 33 * MS, "stages": spans}


def _trail(k: int) -> dict[str, Any]:
    t = 9_000 * MS + k * 50 * MS
    stages = []
    for stage, ms, gap in LIVE_STAGES:
        dur = (ms + k) * MS if stage == "detect" else ms * MS
        stages.append({"stage": stage, "start_ns": t, "end_ns": t + dur})
        t += dur + gap * MS
    return {"stamp_ns": 1_000_000_000 + k * 33 * MS, "stages": stages}


def write_run(
    directory: Path,
    *,
    bag: str = "synthetic",
    ground_truth: bool = True,
    id_switch: bool = True,
    box_shift_px: float = 0.0,
    policy: bool = True,
    live: bool = True,
    slow: float = 1.0,
    timing: bool = True,
) -> Path:
    """Write result.json and timing.json of the synthetic run into ``directory``; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    result = {
        "schema": "visuomotor.replay/1",
        "bag": bag,
        "camera": {
            "color_topic": "/camera/camera/color/image_raw",
            "depth_topic": "/camera/camera/aligned_depth_to_color/image_raw",
            "info_topic": "/camera/camera/color/camera_info",
            "width": 640,
            "height": 480,
            "fx": 600.0,
            "fy": 600.0,
            "cx": 320.0,
            "cy": 240.0,
            "color_encoding": "rgb8",
            "depth_encoding": "16UC1",
        },
        "frames": [
            _frame(k, ground_truth=ground_truth, id_switch=id_switch, box_shift_px=box_shift_px)
            for k in range(FRAMES)
        ],
        "dropped_frames": 2,
        "skipped": {"no_depth": 3, "depth < 0.1 m": 1},
        "policy": (
            {
                "status": ["picking red_0", "phase approach", "done: success"],
                "rejections": {"workspace": 2, "velocity": 1},
            }
            if policy
            else None
        ),
    }
    (directory / "result.json").write_text(json.dumps(result, indent=1))
    if timing:
        trails = [_trail(k) for k in range(5)] if live else []
        if live:  # not a chain: detect starts before camera ends (two hosts' clocks)
            trails.append(
                {
                    "stamp_ns": 7,
                    "stages": [
                        {"stage": "camera", "start_ns": 100 * MS, "end_ns": 110 * MS},
                        {"stage": "detect", "start_ns": 105 * MS, "end_ns": 120 * MS},
                    ],
                }
            )
        data = {
            "schema": "visuomotor.replay-timing/1",
            "stages": STAGES,
            "frames": [_timing(k, slow) for k in range(FRAMES)],
            "recorded_trails": trails,
        }
        (directory / "timing.json").write_text(json.dumps(data, indent=1))
    return directory


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """``make_run(name, **options)``: a synthetic run under the test's tmp dir (see :func:`write_run`)."""

    def make(name: str = "run", **options: Any) -> Path:
        return write_run(tmp_path / name, **options)

    return make


@pytest.fixture(scope="session")
def write_synthetic_run() -> Callable[..., Path]:
    """:func:`write_run` itself, for tests that choose the directory (e.g. a fake replay's output)."""
    return write_run
