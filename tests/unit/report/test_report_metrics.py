"""Report numbers from synthetic replay files equal hand-computed values (see conftest.py for the run)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from visuomotor.report import (
    ReportError,
    TrackingFrame,
    compute_metrics,
    format_value,
    load_run,
    lookup,
    score_tracking,
)

MakeRun = Callable[..., Path]


def _numbers(make_run: MakeRun, **options: object) -> dict:
    return compute_metrics(load_run(make_run(**options))).numbers


def test_offline_latency_per_stage_transport_and_end_to_end(make_run: MakeRun) -> None:
    lat = _numbers(make_run)["latency"]["offline"]
    assert lat["available"] and lat["frames"] == 10 and lat["complete_frames"] == 10
    assert list(lat["stages"]) == ["decode", "detect", "localise", "track"]
    # detect = 10..19 ms: median 14.5; numpy "linear" p95 = 10 + 0.95·9, p99 = 10 + 0.99·9.
    expected = {"count": 10, "p50_ms": 14.5, "p95_ms": 18.55, "p99_ms": 18.91, "mean_ms": 14.5}
    assert lat["stages"]["detect"] == expected | {"max_ms": 19.0, "min_ms": 10.0}
    assert lat["stages"]["decode"]["p99_ms"] == 1.0 and lat["stages"]["track"]["p50_ms"] == 0.5
    assert list(lat["transports"]) == ["decode→detect", "detect→localise", "localise→track"]
    assert all(t["p50_ms"] == 0.1 and t["count"] == 10 for t in lat["transports"].values())
    # end to end = 1 + 0.1 + (10 + k) + 0.1 + 2 + 0.1 + 0.5 = 13.8 + k ms.
    e2e = lat["end_to_end"]
    assert (e2e["p50_ms"], e2e["p95_ms"], e2e["min_ms"], e2e["max_ms"]) == (18.3, 22.35, 13.8, 22.8)


def test_live_latency_from_recorded_trails_skips_trails_that_are_not_a_chain(make_run: MakeRun) -> None:
    lat = _numbers(make_run)["latency"]["live"]
    assert lat["available"] and lat["frames"] == 5 and lat["invalid_trails"] == 1
    assert list(lat["stages"]) == ["camera", "detect", "localise", "track", "policy"]
    assert lat["transports"]["camera→detect"]["p50_ms"] == 3.0
    assert lat["transports"]["track→policy"]["max_ms"] == 2.0
    # end to end = 1 + 3 + (12 + k) + 1 + 2 + 1 + 1 + 2 + 5 = 28 + k ms, k = 0..4.
    assert lat["end_to_end"]["p50_ms"] == 30.0 and lat["end_to_end"]["p95_ms"] == 31.8


def test_a_frame_skipped_half_way_counts_per_stage_but_not_end_to_end(make_run: MakeRun) -> None:
    run_dir = make_run()
    timing = json.loads((run_dir / "timing.json").read_text())
    del timing["frames"][9]["stages"]["track"]  # frame 9 (the slowest, 22.8 ms) never reached the tracker
    (run_dir / "timing.json").write_text(json.dumps(timing))
    lat = compute_metrics(load_run(run_dir)).numbers["latency"]["offline"]
    assert lat["complete_frames"] == 9 and lat["stages"]["detect"]["count"] == 10
    assert lat["stages"]["track"]["count"] == 9
    assert lat["end_to_end"]["count"] == 9 and lat["end_to_end"]["max_ms"] == 21.8


def test_perfect_detector_scores_map_one_and_a_class_without_ground_truth_is_left_out(
    make_run: MakeRun,
) -> None:
    det = _numbers(make_run)["detection"]
    assert det["available"]
    assert det["map50"] == 1.0 and det["map50_95"] == 1.0
    assert det["instances"] == 20 and det["images"] == 10 and det["detections"] == 21
    assert det["per_class"]["blue_cube"] == {"ap50": None, "ap50_95": None, "instances": 0}


def test_boxes_shifted_by_a_tenth_of_their_width_pass_iou_thresholds_up_to_0_8(make_run: MakeRun) -> None:
    # 50×50 boxes shifted 5 px: IoU = 45·50 / (2·2500 − 2250) = 0.818 → AP 1 at IoU 0.50…0.80 (7 of 10
    # thresholds), 0 at 0.85…0.95: mAP50-95 = 0.7.
    det = _numbers(make_run, box_shift_px=5.0)["detection"]
    assert det["map50"] == 1.0
    assert det["map50_95"] == pytest.approx(0.7, abs=1e-6)


def test_localisation_errors_matched_per_class_by_nearest(make_run: MakeRun) -> None:
    loc = _numbers(make_run)["localisation"]
    # red errors 1..10 mm, green 2 mm ×10; the blue object has no ground truth.
    errors = np.array([*range(1, 11), *[2] * 10], dtype=float)
    assert loc["matched"] == 20
    assert loc["median_mm"] == 2.0 == float(np.median(errors))
    assert loc["p95_mm"] == 9.05 == round(float(np.percentile(errors, 95)), 2)
    assert loc["mean_mm"] == 3.75 and loc["max_mm"] == 10.0
    assert loc["unmatched_objects"] == 1 and loc["unmatched_ground_truth"] == 0
    assert loc["per_class"]["red_cube"]["median_mm"] == 5.5 and loc["per_class"]["red_cube"]["p95_mm"] == 9.55
    assert loc["per_class"]["green_cube"]["max_mm"] == 2.0
    assert loc["per_class"]["blue_cube"] == {
        "matched": 0, "median_mm": None, "p95_mm": None, "mean_mm": None, "max_mm": None
    }  # fmt: skip


def test_an_object_beyond_the_match_gate_is_unmatched_not_averaged(make_run: MakeRun) -> None:
    run_dir = make_run()
    result = json.loads((run_dir / "result.json").read_text())
    result["frames"][0]["objects"][0]["position_m"][2] += 0.5  # red, frame 0: 0.5 m off
    (run_dir / "result.json").write_text(json.dumps(result))
    loc = compute_metrics(load_run(run_dir)).numbers["localisation"]
    assert loc["matched"] == 19 and loc["unmatched_objects"] == 2 and loc["unmatched_ground_truth"] == 1
    assert loc["max_mm"] == 10.0


def test_one_id_switch_lowers_idf1_mota_and_hota_by_hand_computed_amounts(make_run: MakeRun) -> None:
    clean = _numbers(make_run, id_switch=False)["tracking"]
    assert (clean["mota"], clean["idf1"], clean["hota"], clean["id_switches"]) == (1.0, 1.0, 1.0, 0)
    assert clean["track_ids"] == 2  # the TENTATIVE track is not scored
    switched = _numbers(make_run, id_switch=True)["tracking"]
    # 20 ground-truth detections, green changes ID at frame 5:
    # MOTA = 1 − 1/20; IDF1 = 2·15 / (2·15 + 5 + 5); HOTA = sqrt(DetA 1 · AssA (10·1 + 10·0.5)/20).
    assert switched["id_switches"] == 1 and switched["track_ids"] == 3
    assert switched["mota"] == 0.95
    assert switched["idf1"] == 0.75
    assert switched["hota"] == round(float(np.sqrt(0.75)), 4)


def test_score_tracking_never_matches_across_classes() -> None:
    frames = [
        TrackingFrame(
            ["a"], np.array([[0.0, 0.0, 0.0]]), [7], np.array([[0.0, 0.0, 0.0]]), ["red"], ["green"]
        )
        for _ in range(3)
    ]
    s = score_tracking(frames)
    assert s.false_negatives == 3 and s.false_positives == 3 and s.idf1 == 0.0
    same_class = [TrackingFrame(["a"], f.gt_positions_m, [7], f.track_positions_m) for f in frames]
    assert score_tracking(same_class).idf1 == 1.0
    # 4 cm away: similarity 1 − 0.04/0.1 = 0.6 ≥ 0.5 still matches for CLEAR/Identity.
    near = [
        TrackingFrame(["a"], f.gt_positions_m, [7], f.track_positions_m + np.array([0.04, 0.0, 0.0]))
        for f in frames
    ]
    assert score_tracking(near).mota == 1.0


def test_policy_outcome_and_safety_rejections(make_run: MakeRun) -> None:
    pol = _numbers(make_run)["policy"]
    assert pol["outcome"] == "success" and pol["success"] is True
    assert pol["final_status"] == "done: success" and pol["status_messages"] == 3
    assert pol["rejections"] == {"workspace": 2, "velocity": 1} and pol["rejections_total"] == 3


def test_policy_failure_and_unfinished(make_run: MakeRun) -> None:
    run_dir = make_run()
    result = json.loads((run_dir / "result.json").read_text())
    result["policy"]["status"] = ["picking red_0", "done: failure — target lost from the ground truth"]
    (run_dir / "result.json").write_text(json.dumps(result))
    pol = compute_metrics(load_run(run_dir)).numbers["policy"]
    assert pol["outcome"] == "failure" and pol["success"] is False
    result["policy"]["status"] = ["picking red_0", "phase approach"]
    (run_dir / "result.json").write_text(json.dumps(result))
    pol = compute_metrics(load_run(run_dir)).numbers["policy"]
    assert pol["outcome"] == "unfinished" and pol["final_status"] == "phase approach"


def test_run_section_counts_drops_and_skips(make_run: MakeRun) -> None:
    run = _numbers(make_run)["run"]
    assert run["frames"] == 10 and run["dropped_frames"] == 2 and run["frames_with_ground_truth"] == 10
    assert run["skipped"] == {"no_depth": 3, "depth < 0.1 m": 1} and run["skipped_total"] == 4
    assert run["camera"] == {"width": 640, "height": 480, "fx": 600.0, "fy": 600.0, "cx": 320.0, "cy": 240.0}


def test_without_ground_truth_policy_or_trails_the_sections_say_not_available(make_run: MakeRun) -> None:
    numbers = _numbers(make_run, ground_truth=False, policy=False, live=False)
    for section in ("detection", "localisation", "tracking", "policy"):
        assert numbers[section]["available"] is False
        assert numbers[section]["reason"]
    assert "ground truth" in numbers["detection"]["reason"]
    assert numbers["latency"]["live"] == {
        "available": False,
        "reason": "no recorded frame trails in timing.json (the bag has no latency topic)",
    }
    assert numbers["latency"]["offline"]["available"] is True


def test_without_timing_json_latency_is_not_available(make_run: MakeRun) -> None:
    lat = _numbers(make_run, timing=False)["latency"]
    assert lat["offline"]["available"] is False and "timing.json" in lat["offline"]["reason"]


def test_ground_truth_outside_the_image_is_not_expected(make_run: MakeRun) -> None:
    run_dir = make_run()
    result = json.loads((run_dir / "result.json").read_text())
    for frame in result["frames"]:  # a third cube, off screen: no box, no detection, no object, no track
        frame["ground_truth"].append(
            {
                "name": "blue_9",
                "class_name": "blue_cube",
                "position_m": [2.0, 2.0, 0.1],
                "extent_m": None,
                "box_px": None,
            }
        )
    (run_dir / "result.json").write_text(json.dumps(result))
    numbers = compute_metrics(load_run(run_dir)).numbers
    assert numbers["localisation"]["unmatched_ground_truth"] == 0
    assert numbers["tracking"]["false_negatives"] == 0 and numbers["tracking"]["gt_ids"] == 2
    assert numbers["detection"]["instances"] == 20


def test_missing_directory_and_missing_result_json_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"is not a directory: pass the directory a replay wrote"):
        load_run(tmp_path / "nope")
    with pytest.raises(ReportError, match=r"has no result\.json: .*visuomotor eval BAG --report DIR"):
        load_run(tmp_path)


def test_wrong_schema_names_the_file_and_the_expected_schema(make_run: MakeRun) -> None:
    run_dir = make_run()
    result = json.loads((run_dir / "result.json").read_text())
    result["schema"] = "visuomotor.replay/0"
    (run_dir / "result.json").write_text(json.dumps(result))
    with pytest.raises(
        ReportError, match=r"result\.json has schema 'visuomotor\.replay/0', expected 'visuomotor\.replay/1'"
    ):
        load_run(run_dir)
    (run_dir / "result.json").write_text("{not json")
    with pytest.raises(ReportError, match=r"result\.json is not valid JSON"):
        load_run(run_dir)


def test_a_missing_field_is_named_with_its_json_path(make_run: MakeRun) -> None:
    run_dir = make_run()
    result = json.loads((run_dir / "result.json").read_text())
    del result["frames"][3]["detections"][1]["box_px"]
    (run_dir / "result.json").write_text(json.dumps(result))
    with pytest.raises(
        ReportError, match=r"result\.json: result\.frames\[3\]\.detections\[1\] has no 'box_px'"
    ):
        load_run(run_dir)
    run_dir = make_run("timing_broken")
    timing = json.loads((run_dir / "timing.json").read_text())
    timing["frames"][2]["stages"]["detect"]["end_ns"] = 1.5
    (run_dir / "timing.json").write_text(json.dumps(timing))
    with pytest.raises(ReportError, match=r"timing\.frames\[2\]\.stages\.detect\.end_ns must be an integer"):
        load_run(run_dir)


def test_lookup_and_format_value() -> None:
    data = {"run": {"skipped": {"depth < 0.1 m": 1}}, "x": {"y": 0.30000000000000004, "n": None, "b": True}}
    assert lookup(data, "run.skipped.depth < 0.1 m") == 1
    with pytest.raises(KeyError):
        lookup(data, "run.nothing")
    assert format_value(None) == "n/a" and format_value(True) == "yes" and format_value(3) == "3"
    assert float(format_value(lookup(data, "x.y"))) == 0.30000000000000004
