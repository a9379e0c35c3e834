"""Perception benchmark: our ONNX detector + localiser + tracker vs ultralytics ``model.track`` (ByteTrack).

Frames: N sim frames at 640×480, rendered at 30 Hz of sim time while the scripted expert picks a cube
(arm motion, occlusions), so the tracker has real work. On the same frames:
  - ours, in process: detect (pre / infer / post) → localise (incl. depth conversion) → track;
  - ours, through ROS: the frames published at 30 Hz into the composed ``perception`` process (its own
    process, shipped params), giving every transport hop and camera-publish → tracks end to end;
  - ultralytics: ``YOLO(<.pt>).track(frame, persist=True, tracker="bytetrack.yaml")`` — its predictor +
    ByteTrack, what yolo_ros runs — with the same trained weights and image size (needs the training
    extras; skipped with a note when torch/ultralytics or the .pt are missing).
Prints a table and writes JSON (``speedup_vs_ultralytics``, ``non_inference_p99_ms``, ``e2e_p50_ms``,
``e2e_p99_ms``, ``frames``, ``provider``, per-stage stats).

Usage: source scripts/env.sh && python bench/perception.py [--frames 300] [--model MODEL.onnx]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from visuomotor.latency import percentile_ms

ROOT = Path(__file__).resolve().parents[1]


def render_sequence(n: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], Any, float]:
    """``n`` frames at 30 Hz of sim time while the expert picks the first cube; (rgb, depth_mm, K, dt)."""
    from visuomotor.sim import SimConfig, SimWorld
    from visuomotor.sim.expert import PickPlayback

    world = SimWorld(SimConfig())
    world.reset(seed)
    pick = PickPlayback(world)
    dt = 1.0 / 30.0
    steps = round(dt / world.model.opt.timestep)
    rgbs, depths = [], []
    while len(rgbs) < n:
        pick.advance()
        frame = world.render()
        rgbs.append(frame.rgb)
        depths.append(frame.depth_mm)
        world.step(steps)
    K = world.intrinsics
    world.close()
    return rgbs, depths, K, dt


def stats(samples_ns: list[int]) -> dict[str, float]:
    arr = np.asarray(samples_ns, dtype=np.int64)
    return {"p50_ms": percentile_ms(arr, 50), "p99_ms": percentile_ms(arr, 99), "count": int(arr.size)}


def run_ours(model: Path, rgbs: list[np.ndarray], depths: list[np.ndarray], K: Any, dt: float) -> dict:
    from visuomotor.detection import DetectorConfig, make_detector
    from visuomotor.geometry import LocaliserConfig, load_extrinsics
    from visuomotor.perception import PerceptionFrame, PerceptionPipeline
    from visuomotor.tracking import TrackerConfig

    detector = make_detector(DetectorConfig(model_path=str(model)))
    pipeline = PerceptionPipeline(detector, LocaliserConfig(), TrackerConfig(),
                                  load_extrinsics(ROOT / "config" / "extrinsics" / "sim.yaml"))
    series: dict[str, list[int]] = {k: [] for k in ("pre", "infer", "post", "localise", "track", "total",
                                                     "non_inference")}
    for i, (rgb, depth) in enumerate(zip(rgbs, depths, strict=True)):
        t0 = time.monotonic_ns()
        out = pipeline.process(PerceptionFrame(round(i * dt * 1e9), rgb, "rgb8", depth, "16UC1", K))
        total = time.monotonic_ns() - t0
        stage = {s.stage: s.duration_ns for s in out.trail.timings}
        for key, value in (("pre", stage["detect.pre"]), ("infer", stage["detect.infer"]),
                           ("post", stage["detect.post"]), ("localise", stage["localise"]),
                           ("track", stage["track"]), ("total", total),
                           ("non_inference", total - stage["detect.infer"])):
            series[key].append(value)
    return {"provider": detector.provider, "input_size": list(detector.input_size),
            **{k: stats(v) for k, v in series.items()}}


def run_ultralytics(pt: Path | None, imgsz: int, rgbs: list[np.ndarray]) -> dict:
    """Time ultralytics in a process of its own: its CUDA-build torch (triton) crashes when imported into
    a process that already loaded MuJoCo's EGL and ONNX Runtime, and a clean process is fairer anyway."""
    if pt is None or not pt.exists():
        return {"skipped": f"no .pt weights ({pt}); train with `visuomotor train detector` first"}
    with tempfile.TemporaryDirectory() as tmp:
        frames, result = Path(tmp) / "frames.npy", Path(tmp) / "ultralytics.json"
        np.save(frames, np.stack(rgbs))
        run = subprocess.run(
            [sys.executable, __file__, "--role", "ultralytics", "--pt", str(pt), "--imgsz", str(imgsz),
             "--frames-npy", str(frames), "--json", str(result)],
            capture_output=True, text=True, timeout=1800,
        )
        if run.returncode != 0:
            return {"skipped": f"ultralytics run failed: {run.stderr.strip()[-600:]}"}
        return json.loads(result.read_text())


def ultralytics_role(pt: Path, imgsz: int, frames_npy: Path, out: Path) -> int:
    try:
        from visuomotor.training.detector import apply_offline_settings

        apply_offline_settings(ROOT / "runs")
        import torch
        from ultralytics import YOLO
    except ImportError as err:
        out.write_text(json.dumps({"skipped": f"training extras not installed ({err}): "
                                              "pip install -r requirements/train.txt"}))
        return 0
    torch.set_num_threads(2)  # the same 2 threads ONNX Runtime gets
    bgr = [np.ascontiguousarray(f[:, :, ::-1]) for f in np.load(frames_npy)]
    model = YOLO(str(pt))
    for f in bgr[:3]:  # warm-up, like our detector's warmup_runs
        model.track(f, persist=True, tracker="bytetrack.yaml", imgsz=imgsz, verbose=False)
    model = YOLO(str(pt))  # a fresh tracker state for the timed run
    times = []
    for f in bgr:
        t = time.monotonic_ns()
        model.track(f, persist=True, tracker="bytetrack.yaml", imgsz=imgsz, verbose=False)
        times.append(time.monotonic_ns() - t)
    out.write_text(json.dumps({"weights": str(pt), "imgsz": imgsz, "torch": torch.__version__,
                               "track": stats(times)}))
    return 0


def run_ros(model: Path, rgbs: list[np.ndarray], depths: list[np.ndarray], K: Any, dt: float) -> dict:
    """Publish the frames at 30 Hz into the composed perception process and read the tracks' trails."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import CameraInfo, Image

    from visuomotor_interfaces.msg import TrackArray
    from visuomotor_ros.convert import intrinsics_to_camera_info, numpy_to_image, stamp_to_ns
    from visuomotor_ros.launcher import NodeProcess
    from visuomotor_ros.qos import SENSOR, STATE

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    files = [ROOT / "config" / "perception.yaml"]
    params = {"perception:detector.model_path": str(model), "latency_monitor:print_table": False}
    proc = NodeProcess("perception", params, params_files=files,
                       log_path=ROOT / "results" / "bench" / "perception_node.log")
    ctx = Context()
    rclpy.init(context=ctx)
    node = Node("bench_camera", context=ctx)
    pubs = {k: node.create_publisher(t, f"/camera/camera/{k}", SENSOR) for k, t in (
        ("color/image_raw", Image), ("aligned_depth_to_color/image_raw", Image),
        ("color/camera_info", CameraInfo))}
    published: dict[int, int] = {}
    received: dict[int, tuple[int, list]] = {}
    lock = threading.Lock()

    def on_tracks(m: TrackArray) -> None:
        with lock:
            received[stamp_to_ns(m.header.stamp)] = (time.monotonic_ns(), [(t.stage, t.start_ns, t.end_ns)
                                                                           for t in m.timings])

    node.create_subscription(TrackArray, "/visuomotor/tracks", on_tracks, STATE)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()
    deadline = time.monotonic() + 60
    while (node.count_publishers("/visuomotor/tracks") == 0
           or pubs["color/image_raw"].get_subscription_count() == 0):
        if time.monotonic() > deadline or not proc.alive():
            raise RuntimeError(f"perception process did not come up:\n{proc.output()[-2000:]}")
        time.sleep(0.1)
    time.sleep(1.0)  # every subscription matched
    frame_id = "camera_color_optical_frame"
    t_next = time.monotonic()
    for i, (rgb, depth) in enumerate(zip(rgbs, depths, strict=True)):
        stamp = 1_000_000_000 + round(i * dt * 1e9)
        color = numpy_to_image(rgb, "rgb8", stamp, frame_id)
        dmsg = numpy_to_image(depth, "16UC1", stamp, frame_id)
        info = intrinsics_to_camera_info(K, stamp, frame_id)
        with lock:
            published[stamp] = time.monotonic_ns()
        pubs["color/image_raw"].publish(color)
        pubs["aligned_depth_to_color/image_raw"].publish(dmsg)
        pubs["color/camera_info"].publish(info)
        t_next += dt
        time.sleep(max(0.0, t_next - time.monotonic()))
    time.sleep(1.0)
    executor.shutdown()
    spin.join(5)
    node.destroy_node()
    rclpy.try_shutdown(context=ctx)
    proc.stop()
    hops: dict[str, list[int]] = {}
    e2e: list[int] = []
    for stamp, (arrived, trail) in received.items():
        sent = published.get(stamp)
        if sent is None or not trail:
            continue
        hops.setdefault("camera→detect.pre", []).append(trail[0][1] - sent)
        for (a, _, a_end), (b, b_start, _) in itertools.pairwise(trail):
            if a_end != b_start or not a.startswith("detect"):
                hops.setdefault(f"{a}→{b}", []).append(b_start - a_end)
        hops.setdefault("track→subscriber", []).append(arrived - trail[-1][2])
        e2e.append(trail[-1][2] - sent)
    transport = [sum(v) for v in zip(*hops.values(), strict=False)] if hops else []
    return {"frames_sent": len(published), "frames_tracked": len(e2e),
            "hops": {k: stats(v) for k, v in hops.items()},
            "transport_total": stats(transport) if transport else None,
            "e2e_camera_to_tracks": stats(e2e) if e2e else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "detector_yolov8n_int8.onnx",
                    help="ONNX detector (default: the shipped default, INT8)")
    ap.add_argument("--pt", type=Path, default=None, help="ultralytics weights (default: the model's .pt)")
    ap.add_argument("--no-ros", action="store_true", help="skip the pass through the ROS graph")
    ap.add_argument("--json", type=Path, default=ROOT / "results" / "bench" / "perception.json")
    ap.add_argument("--role", choices=("bench", "ultralytics"), default="bench", help=argparse.SUPPRESS)
    ap.add_argument("--imgsz", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--frames-npy", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "ultralytics":
        return ultralytics_role(args.pt, args.imgsz, args.frames_npy, args.json)
    # The INT8 model is quantised from the FP32 export of the same .pt weights.
    pt = args.pt or args.model.with_name(args.model.stem.removesuffix("_int8") + ".pt")

    print(f"rendering {args.frames} sim frames ...", flush=True)
    rgbs, depths, K, dt = render_sequence(args.frames, args.seed)
    ours = run_ours(args.model, rgbs, depths, K, dt)
    imgsz = int(ours["input_size"][0])
    ultra = run_ultralytics(pt, imgsz, rgbs)
    ros = None if args.no_ros else run_ros(args.model, rgbs, depths, K, dt)

    speedup = (ultra["track"]["p50_ms"] / ours["total"]["p50_ms"]) if "track" in ultra else None
    e2e = (ros or {}).get("e2e_camera_to_tracks") or ours["total"]
    out = {
        "frames": args.frames, "model": str(args.model), "provider": ours["provider"],
        "speedup_vs_ultralytics": speedup,
        "non_inference_p99_ms": ours["non_inference"]["p99_ms"],
        "e2e_p50_ms": e2e["p50_ms"], "e2e_p99_ms": e2e["p99_ms"],
        "ours_in_process": ours, "ultralytics": ultra, "ros": ros,
    }
    print(f"\nPerception on {args.frames} frames, 640×480, {ours['provider']}, input {imgsz}")
    print(f"{'stage':<28} {'p50 ms':>8} {'p99 ms':>8}")
    for key in ("pre", "infer", "post", "localise", "track", "non_inference", "total"):
        print(f"{'ours ' + key:<28} {ours[key]['p50_ms']:>8.2f} {ours[key]['p99_ms']:>8.2f}")
    if ros:
        for hop, s in ros["hops"].items():
            print(f"{'transport ' + hop:<28} {s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f}")
        if ros["e2e_camera_to_tracks"]:
            s = ros["e2e_camera_to_tracks"]
            print(f"{'e2e camera → tracks (ROS)':<28} {s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f}"
                  f"   ({ros['frames_tracked']}/{ros['frames_sent']} frames)")
    if "track" in ultra:
        s = ultra["track"]
        print(f"{'ultralytics track (.pt)':<28} {s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f}")
        print(f"\nspeed-up vs ultralytics (p50): {speedup:.2f}×")
    else:
        print(f"\nultralytics: {ultra['skipped']}")
    print(f"non-inference p99: {out['non_inference_p99_ms']:.2f} ms (goal ≤ 3 ms)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2))
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
