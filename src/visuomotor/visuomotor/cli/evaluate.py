"""Evaluate a model or a run: ``visuomotor eval <what> ...``.

``visuomotor eval detector --model models/detector_yolov8n.onnx --images 500 --json F [--seed S]`` renders
labelled sim frames from a fresh seed, runs the ONNX detector and writes COCO mAP (faster-coco-eval),
per-class AP, the provider and per-step timing to JSON. Each frame is detected twice: once at COCO
evaluation thresholds (score 0.001, 300 detections: the mAP) and once with the runtime parameters of
``config/detector.yaml`` (the timing and the mAP the pipeline actually gets). ``--dataset DIR``
evaluates a written split (``images/val`` + ``annotations/val.json``) instead of fresh renders.

Subjects register in ``SUBJECTS`` (name → argument builder, runner); ``eval policy`` or a bag
evaluation join there.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

__all__ = ["SUBJECTS", "add_arguments", "run"]

_DEFAULT_DETECTOR_PARAMS = Path("config/detector.yaml")


def _add_detector_arguments(parser: argparse.ArgumentParser) -> None:
    from visuomotor.training.detector_eval import EVAL_SEED

    parser.add_argument("--model", type=Path, required=True, help="ONNX detector (YOLO or RT-DETR)")
    parser.add_argument("--images", type=int, default=500, help="frames to render and evaluate (default 500)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--seed", type=int, default=EVAL_SEED, help=f"render seed, ≠ the dataset's 0/1 (default {EVAL_SEED})"
    )
    parser.add_argument(
        "--params",
        type=Path,
        default=_DEFAULT_DETECTOR_PARAMS,
        help="runtime detector parameters (ROS params file; default config/detector.yaml, if present)",
    )
    parser.add_argument(
        "--dataset",
        type=Path,
        help="evaluate on a written dataset split (images + COCO json) instead of fresh renders",
    )
    parser.add_argument("--split", default="val", help="split of --dataset (default val)")
    parser.add_argument("--providers", nargs="+", help="execution providers, overriding the params file")
    parser.add_argument("--score-threshold", type=float, default=0.001, help="mAP pass score threshold")
    parser.add_argument("--max-detections", type=int, default=300, help="mAP pass detections per image")
    parser.add_argument(
        "--no-runtime-pass",
        action="store_true",
        help="skip the second pass at runtime thresholds (halves time)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _load_params(path: Path, required: bool) -> dict[str, Any]:
    from visuomotor.errors import ConfigError

    if not path.is_file():
        if required:
            raise ConfigError(f"detector params file {path} not found; pass --params config/detector.yaml")
        return {}
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    try:
        params = data["detector"]["ros__parameters"]
    except (KeyError, TypeError) as err:
        raise ConfigError(f"{path} has no detector: ros__parameters: section") from err
    return dict(params)


def _run_detector(args: argparse.Namespace) -> int:
    import onnxruntime as ort
    from tqdm import tqdm

    from visuomotor.detection.detector import DetectorConfig
    from visuomotor.detection.factory import make_detector
    from visuomotor.errors import ConfigError
    from visuomotor.training.detector_eval import dataset_frames, evaluate_detector, render_frames

    if args.images < 1:
        raise ConfigError(f"--images must be ≥ 1, got {args.images}")
    params = _load_params(args.params, required=args.params != _DEFAULT_DETECTOR_PARAMS)
    params |= {"model_path": str(args.model)}
    if args.providers:
        params["providers"] = list(args.providers)
    runtime_config = DetectorConfig.from_flat(params)
    eval_config = replace(
        runtime_config, score_threshold=args.score_threshold, max_detections=args.max_detections
    )
    start = time.perf_counter()
    detector = make_detector(eval_config)
    also = [] if args.no_runtime_pass else [make_detector(runtime_config)]
    if args.dataset is not None:
        frames = dataset_frames(args.dataset, args.split, args.images)
        source = {"dataset": str(args.dataset), "split": args.split}
    else:
        frames = render_frames(args.images, args.seed)
        source = {"rendered": "visuomotor.training.detector_eval.render_frames", "seed": args.seed}
    with tqdm(total=args.images, unit="frame", disable=args.no_progress, desc="evaluating") as bar:
        evals = evaluate_detector(detector, frames, bar.update, also)
    wall = time.perf_counter() - start
    main = evals[0]
    timed = evals[-1]  # the runtime pass when there is one
    report: dict[str, Any] = {
        "model": str(args.model),
        "arch": "rtdetr" if type(detector).__name__ == "OnnxRtDetrDetector" else "yolo",
        "class_names": list(detector.class_names),
        "input_size": list(detector.input_size),
        "frames": main.frames,
        "seed": None if args.dataset is not None else args.seed,
        "source": source,
        "provider": main.provider,
        "onnxruntime": ort.__version__,
        "intra_op_threads": runtime_config.intra_op_threads,
        **{k: v for k, v in main.map.to_dict().items() if k in ("map50", "map50_95", "per_class")},
        "instances": main.map.instances,
        "eval_thresholds": {
            "score_threshold": eval_config.score_threshold,
            "iou_threshold": eval_config.iou_threshold,
            "max_detections": eval_config.max_detections,
        },
        "timing": {**timed.timing, "thresholds": "runtime" if len(evals) > 1 else "eval"},
        "timing_eval_thresholds": main.timing,
        "wall_seconds": round(wall, 1),
        "command": "visuomotor " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    }
    if len(evals) > 1:
        report["runtime"] = {
            "score_threshold": runtime_config.score_threshold,
            "iou_threshold": runtime_config.iou_threshold,
            "max_detections": runtime_config.max_detections,
            **{k: v for k, v in timed.map.to_dict().items() if k in ("map50", "map50_95", "per_class")},
        }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    _print_report(report)
    return 0


def _print_report(report: dict[str, Any]) -> None:
    print(
        f"{report['model']} ({report['arch']}, {report['provider']}): {report['frames']} frames seed "
        f"{report['seed']}, {report['instances']} instances"
    )
    print(f"  mAP50 {report['map50']:.4f}  mAP50-95 {report['map50_95']:.4f}")
    for name, c in report["per_class"].items():
        ap50 = "n/a" if c["ap50"] is None else f"{c['ap50']:.4f}"
        ap = "n/a" if c["ap50_95"] is None else f"{c['ap50_95']:.4f}"
        print(f"    {name:<12} AP50 {ap50}  AP50-95 {ap}  ({c['instances']} instances)")
    if "runtime" in report:
        rt = report["runtime"]
        print(f"  at runtime thresholds (score {rt['score_threshold']}): mAP50 {rt['map50']:.4f}")
    t = report["timing"]
    print(
        "  timing ms (p50/p99): "
        + ", ".join(
            f"{k} {t[k]['p50_ms']:.2f}/{t[k]['p99_ms']:.2f}" for k in ("pre", "infer", "post", "total")
        )
    )


def _add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    from visuomotor.training.policy_eval import EVAL_SEED

    parser.add_argument("--episodes", type=int, default=50, help="seeded episodes (default 50)")
    parser.add_argument(
        "--task", default="pick",
        help="pick: a random cube on the table (default); conveyor: the leading cube on a belt at 0.1 m/s "
        "(config/conveyor.yaml, models/act_conveyor.onnx)",
    )
    parser.add_argument(
        "--no-latency-compensation", action="store_true",
        help="conveyor task: show the policy the cube where the camera saw it, not where it will be when the "
        "command acts (policy latency_compensation: false); lock-step runs have no latency either way",
    )
    parser.add_argument("--seed", type=int, default=EVAL_SEED, help=f"first scene seed (default {EVAL_SEED})")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--config-dir", type=Path, default=Path("config"),
        help="params files of every stage (detector, localiser, tracker, policy, safety, sim; default "
        "config/)",
    )
    parser.add_argument("--model", type=Path, help="ACT ONNX model, overriding policy.yaml")
    parser.add_argument("--detector-model", type=Path, help="detector ONNX model, overriding detector.yaml")
    parser.add_argument(
        "--observation", choices=("perception", "ground_truth"), default="perception",
        help="perception: the whole stack in the loop (default); ground_truth: the policy alone",
    )
    parser.add_argument("--max-steps", type=int, default=250, help="control ticks before an episode fails")
    parser.add_argument(
        "--realtime", action="store_true",
        help="the stack as on the robot: the sim in its own process on the wall clock (30 Hz camera), "
        "perception, policy and commander as ROS nodes (needs the built workspace)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_policy(args: argparse.Namespace) -> int:
    import math

    from tqdm import tqdm

    from visuomotor.errors import ConfigError
    from visuomotor.policy.runtime import ActOnnxPolicy
    from visuomotor.training.closed_loop import (
        TASK_FILES,
        ClosedLoopConfig,
        SimClosedLoop,
        evaluate_closed_loop,
    )
    from visuomotor.training.policy_eval import evaluate_policy

    if args.task not in TASK_FILES:
        raise ConfigError(f"unknown --task {args.task!r}; choose one of: {', '.join(TASK_FILES)}")
    if args.episodes < 1:
        raise ConfigError(f"--episodes must be ≥ 1, got {args.episodes}")
    if args.realtime:
        return _run_policy_realtime(args)
    config = ClosedLoopConfig.from_config_dir(args.config_dir, task=args.task)
    if args.no_latency_compensation:
        config = replace(config, policy=replace(config.policy, latency_compensation=False))
    if args.model is not None:
        config = replace(config, policy=replace(config.policy, model_path=str(args.model)))
    if args.detector_model is not None:
        config = replace(config, detector=replace(config.detector, model_path=str(args.detector_model)))
    bar = tqdm(total=args.episodes, unit="episode", disable=args.no_progress)
    done = {"ok": 0}

    def progress(i: int, r: Any) -> None:
        done["ok"] += int(r.success)
        bar.update(1)
        bar.set_postfix(success=f"{done['ok']}/{i + 1}")

    policy = ActOnnxPolicy.from_config(config.policy)
    if args.observation == "perception":
        loop = SimClosedLoop(config, policy)
        try:
            result = evaluate_closed_loop(
                loop, args.episodes, args.seed, max_steps=args.max_steps, progress=progress
            )
        finally:
            loop.close()
    else:
        result = evaluate_policy(
            policy, args.episodes, args.seed, control_period_s=policy.control_period_s,
            max_steps=args.max_steps, progress=progress, task=args.task,
        )
    bar.close()
    report = {
        "command": "visuomotor eval policy " + shlex.join(sys.argv[3:] if len(sys.argv) > 3 else []),
        "task": args.task,
        "mode": "lockstep",
        "latency_compensation": config.policy.latency_compensation,
        "conveyor_speed_m_s": config.sim.conveyor.speed_m_s,
        "model": config.policy.model_path,
        "detector_model": config.detector.model_path if args.observation == "perception" else None,
        "seed": args.seed,
        **result.to_dict(),
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
    mean_t = result.mean_time_to_place_s
    print(
        f"{result.successes}/{result.episodes} placed (success_rate {result.success_rate:.2f}), "
        f"mean time to place {'n/a' if math.isnan(mean_t) else f'{mean_t:.2f} s'}, "
        f"safety_violations {result.safety_violations}, rejections {result.safety_rejections or 0}, "
        f"{args.observation}, task {args.task}, {result.wall_s:.0f} s"
    )
    for stage, v in result.latency_ms.items():
        print(f"  {stage:<9} p50 {v['p50_ms']:7.2f} ms  p99 {v['p99_ms']:7.2f} ms")
    return 0


def _run_policy_realtime(args: argparse.Namespace) -> int:
    """The real-time evaluation runs ROS nodes: a front door to ``visuomotor_ros.realtime_eval`` (the core
    never imports rclpy)."""
    import importlib.util
    import subprocess

    from visuomotor.errors import ConfigError

    if importlib.util.find_spec("visuomotor_ros") is None or importlib.util.find_spec("rclpy") is None:
        raise ConfigError(
            "--realtime runs the ROS graph: `source scripts/env.sh` first (after ./scripts/setup.sh)"
        )
    unsupported = [flag for flag, used in (("--model", args.model), ("--detector-model", args.detector_model),
                                           ("--observation ground_truth", args.observation != "perception"))
                   if used]
    if unsupported or args.config_dir != Path("config"):
        raise ConfigError(f"--realtime runs the shipped config/ as the nodes read it; drop "
                          f"{', '.join(unsupported) or '--config-dir'}")
    cmd = [sys.executable, "-m", "visuomotor_ros.realtime_eval", "--episodes", str(args.episodes),
           "--seed", str(args.seed), "--task", args.task]
    if args.no_latency_compensation:
        cmd.append("--no-latency-compensation")
    if args.json is not None:
        cmd += ["--json", str(args.json)]
    return subprocess.call(cmd)


def _add_bag_arguments(parser: argparse.ArgumentParser) -> None:
    from visuomotor.cli import evaluate_bag

    evaluate_bag.add_arguments(parser)


def _run_bag(args: argparse.Namespace) -> int:
    from visuomotor.cli import evaluate_bag

    return evaluate_bag.run(args)


#: eval subjects: name → (add its arguments, run it). New subjects register here.
SUBJECTS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
] = {
    "detector": (
        "COCO mAP and timing of an ONNX detector on fresh sim frames",
        _add_detector_arguments,
        _run_detector,
    ),
    "policy": (
        "success rate of the ACT policy in the sim, with the whole stack in the loop (lock-step or real "
        "time; --task pick or conveyor)",
        _add_policy_arguments,
        _run_policy,
    ),
    "bag": (
        "replay a bag offline and write the evaluation report (`visuomotor eval BAG` for short)",
        _add_bag_arguments,
        _run_bag,
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    for name, (help_text, add, _) in SUBJECTS.items():
        add(sub.add_parser(name, help=help_text, description=help_text))


def run(args: argparse.Namespace) -> int:
    return SUBJECTS[args.what][2](args)
