"""PerceptionPipeline: the same tracks as the hand-wired chain it replaced, its trail, its skips.

The reference (data/reference_tracks.json) holds the tracks of 45 sim frames at 15 Hz (seed 3, the arm
picking the red cube: approach, fingers over the cube, lift) computed by the chain that was wired by hand
before this class existed (detector → localiser on float-metre depth → tracker). The pipeline now takes
the camera's 16UC1 millimetres as they come; positions agree to well under a millimetre.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from visuomotor.detection import DetectorConfig, make_detector
from visuomotor.geometry import CameraIntrinsics, LocaliserConfig, load_extrinsics
from visuomotor.perception import STAGES, PerceptionFrame, PerceptionPipeline, localiser_depth
from visuomotor.tracking import TrackerConfig

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = Path(__file__).parent / "data" / "reference_tracks.json"
EXTRINSICS = ROOT / "config" / "extrinsics" / "sim.yaml"


def _pipeline(model: str) -> PerceptionPipeline:
    detector = make_detector(DetectorConfig(model_path=str(ROOT / model)))
    return PerceptionPipeline(detector, LocaliserConfig(), TrackerConfig(), load_extrinsics(EXTRINSICS))


@pytest.mark.slow
def test_same_tracks_as_the_hand_wired_chain_on_a_recorded_sequence() -> None:
    from visuomotor.sim import SimConfig, SimWorld
    from visuomotor.sim.expert import PickPlayback

    ref = json.loads(REFERENCE.read_text())
    pipeline = _pipeline(ref["model"])
    world = SimWorld(SimConfig())
    try:
        world.reset(ref["seed"])
        pick = PickPlayback(world)
        steps = round(1.0 / ref["rate_hz"] / world.model.opt.timestep)
        worst_m = 0.0
        for expected in ref["frames_tracks"]:
            pick.advance()
            frame = world.render()
            stamp = round(world.time_s * 1e9)
            out = pipeline.process(
                PerceptionFrame(stamp, frame.rgb, "rgb8", frame.depth_mm, "16UC1", world.intrinsics)
            )
            assert out.stamp_ns == expected["stamp_ns"] and out.skipped == ""
            assert [t.stage for t in out.trail.timings] == list(STAGES)
            got = [(t.track_id, t.class_name, int(t.state)) for t in out.tracks]
            assert got == [(i, c, s) for i, c, _, s in expected["tracks"]], f"frame at {stamp} ns"
            for t, (*_, p, _) in zip(out.tracks, expected["tracks"], strict=True):
                worst_m = max(worst_m, float(np.max(np.abs(np.subtract(t.position_m, p)))))
            world.step(steps)
    finally:
        world.close()
    assert worst_m < 1e-3, f"positions moved by up to {worst_m * 1000:.2f} mm"
    assert not any(pipeline.skipped[r] for r in ("detect_failed", "localise_failed", "track_failed"))


def test_skips_are_counted_and_named() -> None:
    pipeline = _pipeline("models/detector_yolov8n_int8.onnx")
    K = CameraIntrinsics.from_fovy(640, 480, 1.0)
    rgb = np.full((480, 640, 3), 90, np.uint8)
    no_depth = pipeline.process(PerceptionFrame(1, rgb, "rgb8", None, None, K))
    assert no_depth.skipped == "no_depth" and [t.stage for t in no_depth.trail.timings] == list(STAGES[:3])
    small_depth = np.zeros((240, 320), np.uint16)
    wrong_size = pipeline.process(PerceptionFrame(2, rgb, "rgb8", small_depth, "16UC1", K))
    assert wrong_size.skipped == "localise_failed" and "align depth to colour" in wrong_size.detail
    bad_colour = pipeline.process(PerceptionFrame(3, rgb[:, :, 0], "rgb8", None, None, K))
    assert bad_colour.skipped == "detect_failed" and bad_colour.detail
    good = pipeline.process(PerceptionFrame(4, rgb, "rgb8", np.full((480, 640), 800, np.uint16), "16UC1", K))
    assert good.skipped == "" and [t.stage for t in good.trail.timings] == list(STAGES)
    stale = pipeline.process(PerceptionFrame(4, rgb, "rgb8", np.full((480, 640), 800, np.uint16), "16UC1", K))
    assert stale.skipped == "out_of_order" and stale.tracks == ()
    expected = {"no_depth": 1, "localise_failed": 1, "detect_failed": 1, "out_of_order": 1}
    assert {k: pipeline.skipped[k] for k in expected} == expected
    pipeline.reset()  # a rewound source: earlier stamps are accepted again
    assert pipeline.process(PerceptionFrame(1, rgb, "rgb8", np.full((480, 640), 800, np.uint16), "16UC1",
                                            K)).skipped == ""


def test_one_depth_policy() -> None:
    mm = np.array([[0, 800]], np.uint16)
    assert localiser_depth(mm, "16UC1") is mm  # millimetres pass as they come
    metres = localiser_depth(np.array([[0.0, 0.8]], np.float32), "32FC1")
    assert np.isnan(metres[0, 0]) and metres[0, 1] == pytest.approx(0.8)
