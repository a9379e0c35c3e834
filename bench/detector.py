"""Detector benchmark: pre / infer / post p50/p99 of ONNX detectors on the same 640×480 sim frames.

Frames are rendered once (the dataset renderer, evaluation seed), then every model runs over all of them
with its runtime parameters (config/detector.yaml, model path replaced). Also times the NMS backends on
the candidates of the first model, so the OpenCV/numpy switch point stays measured.

Usage: python bench/detector.py --models models/a.onnx models/a_int8.onnx models/b.onnx [--frames 300]
       [--json results/bench/detector.json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

from visuomotor.detection import DetectorConfig, OnnxYoloDetector, decode_yolo, make_detector
from visuomotor.detection.onnx_yolo import nms, nms_numpy
from visuomotor.training.detector_eval import EVAL_SEED, render_frames, timing_summary

ROOT = Path(__file__).resolve().parents[1]


def _nms_backends(
    det: OnnxYoloDetector, frames: list[np.ndarray], score_threshold: float
) -> dict[str, float]:
    """Median µs of OpenCV vs numpy NMS on the model's real candidates (class offsets applied)."""
    import cv2

    cv_us, np_us, counts = [], [], []
    for rgb in frames[:100]:
        tensor, _ = det.preprocess(rgb)
        boxes, scores, classes = decode_yolo(det.model.run(tensor)[0], score_threshold)
        if len(boxes) == 0:
            continue
        counts.append(len(boxes))
        shifted = boxes.astype(np.float64) + classes[:, None] * 4096.0
        xywh = shifted.copy()
        xywh[:, 2:] -= xywh[:, :2]
        t0 = time.perf_counter_ns()
        cv2.dnn.NMSBoxes(xywh, scores, 0.0, 0.45)
        t1 = time.perf_counter_ns()
        nms_numpy(shifted, scores, 0.45, 300)
        t2 = time.perf_counter_ns()
        nms(boxes, scores, classes, 0.45, 300)
        cv_us.append((t1 - t0) / 1e3)
        np_us.append((t2 - t1) / 1e3)
    if not counts:
        return {}
    return {
        "candidates_median": float(np.median(counts)),
        "opencv_us_median": float(np.median(cv_us)),
        "numpy_us_median": float(np.median(np_us)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, nargs="+", required=True)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--seed", type=int, default=EVAL_SEED)
    ap.add_argument("--params", type=Path, default=ROOT / "config" / "detector.yaml")
    ap.add_argument("--json", type=Path, default=ROOT / "results" / "bench" / "detector.json")
    args = ap.parse_args()
    params = yaml.safe_load(args.params.read_text())["detector"]["ros__parameters"]
    base = DetectorConfig.from_flat(params)
    t0 = time.perf_counter()
    frames = [f.rgb for f in render_frames(args.frames, args.seed)]
    print(f"rendered {len(frames)} frames 640×480 in {time.perf_counter() - t0:.0f} s")
    report: dict = {"frames": len(frames), "seed": args.seed, "models": {}}
    for path in args.models:
        det = make_detector(replace(base, model_path=str(path)))
        results = [det.detect(rgb, "rgb8") for rgb in frames]
        timing = timing_summary(results)
        entry = {
            "arch": type(det).__name__,
            "provider": det.provider,
            "input_size": list(det.input_size),
            "timing": timing,
            "detections_per_frame": float(np.mean([len(r.detections) for r in results])),
        }
        if isinstance(det, OnnxYoloDetector) and "nms" not in report:
            report["nms"] = _nms_backends(det, frames, base.score_threshold)
        report["models"][str(path)] = entry
    print(
        f"\n{'model':<40} {'pre p50/p99':>13} {'infer p50/p99':>15} {'post p50/p99':>13} {'non-inf p99':>11}"
    )
    for path, e in report["models"].items():
        t = e["timing"]
        print(
            f"{Path(path).name:<40} {t['pre']['p50_ms']:6.2f}/{t['pre']['p99_ms']:<6.2f}"
            f"{t['infer']['p50_ms']:7.1f}/{t['infer']['p99_ms']:<7.1f}"
            f"{t['post']['p50_ms']:6.2f}/{t['post']['p99_ms']:<6.2f}{t['non_inference']['p99_ms']:8.2f} ms"
        )
    if report.get("nms"):
        n = report["nms"]
        print(
            f"\nNMS on {n['candidates_median']:.0f} candidates (median): "
            f"OpenCV {n['opencv_us_median']:.0f} µs, numpy {n['numpy_us_median']:.0f} µs"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nJSON: {args.json}")


if __name__ == "__main__":
    main()
