"""Train a model and export it to ONNX under models/: ``visuomotor train detector --arch yolo|rtdetr``.

Needs the optional training extras (``requirements/train.txt``). The command makes ultralytics work
offline by itself (YOLO_OFFLINE, YOLO_AUTOINSTALL, a project-local YOLO_CONFIG_DIR under runs/ with a
font, sync off, amp off) and builds models from YAML; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    from visuomotor.cli import train_act

    train_act.add_arguments(sub.add_parser("act", help="train the ACT policy on recorded demos, export ONNX"))
    det = sub.add_parser("detector", help="train a YOLO or RT-DETR detector on a rendered dataset")
    det.add_argument("--arch", choices=("yolo", "rtdetr"), required=True)
    det.add_argument("--data", type=Path, required=True, help="dataset folder (has dataset.yaml)")
    det.add_argument("--epochs", type=int, default=30, help="epochs (an upper bound with --time-hours)")
    det.add_argument("--imgsz", type=int, default=384, help="square input size, multiple of 32 (384)")
    det.add_argument("--name", help="run/model name (default: detector_<arch>)")
    det.add_argument("--batch", type=int, default=8)
    det.add_argument("--time-hours", type=float, default=0.0, help="wall-clock budget; epochs fit to it")
    det.add_argument("--model-yaml", default="yolov8n.yaml", help="ultralytics model config for --arch yolo")
    det.add_argument("--init", type=Path, help="initialise matching layers from this .pt (rtdetr: the YOLO)")
    det.add_argument("--freeze", type=int, default=0, help="freeze the first N layers (rtdetr+init: 22)")
    det.add_argument("--val-subset", type=int, default=100, help="held-out frames validated per epoch")
    det.add_argument("--workers", type=int, default=1)
    det.add_argument("--runs", type=Path, default=Path("runs"), help="runs folder (git-ignored)")
    det.add_argument("--models", type=Path, default=Path("models"), help="where the ONNX + card go")
    det.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra ultralytics train argument, VALUE parsed as JSON when it can be (repeatable)",
    )


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            from visuomotor.errors import ConfigError

            raise ConfigError(f"--set takes KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    if args.what == "act":
        from visuomotor.cli import train_act

        return train_act.run(args)
    from visuomotor.training.detector import TrainConfig, train_detector

    config = TrainConfig(
        arch=args.arch,
        data_dir=args.data,
        name=args.name or f"detector_{args.arch}",
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        time_hours=args.time_hours,
        model_yaml=args.model_yaml,
        init_weights=args.init,
        freeze=args.freeze,
        val_subset=args.val_subset,
        workers=args.workers,
        overrides=_overrides(args.set),
        runs_dir=args.runs,
        models_dir=args.models,
    )
    command = "visuomotor " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = train_detector(config, command)
    print(
        f"{config.name}: {result.epochs_run} epochs in {result.train_seconds / 60:.1f} min, held-out "
        f"mAP50 {result.map50:.3f} / mAP50-95 {result.map50_95:.3f}; wrote {result.onnx.path} "
        f"({result.onnx.size_mb:.1f} MiB, input {result.onnx.input_name} {list(result.onnx.input_shape)}, "
        f"outputs {[list(s) for _, s in result.onnx.outputs]}) and {result.card}"
    )
    return 0
