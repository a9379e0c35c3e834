"""Render labelled datasets from the sim: ``visuomotor dataset detector --images N --out DIR``.

The held-out split (``val``) is rendered from a different seed; both splits get YOLO labels, COCO ground
truth, per-frame metadata and an ultralytics ``dataset.yaml`` (see ``visuomotor.training.detector_data``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    det = sub.add_parser("detector", help="YOLO-format detector dataset with domain randomisation")
    det.add_argument("--images", type=int, required=True, help="training frames (0: held-out split only)")
    det.add_argument("--out", type=Path, required=True, help="dataset folder (e.g. datasets/detector)")
    det.add_argument("--seed", type=int, default=0, help="training split seed (default 0)")
    det.add_argument("--val-images", type=int, default=500, help="held-out frames (default 500)")
    det.add_argument("--val-seed", type=int, default=1, help="held-out split seed, ≠ --seed (default 1)")
    det.add_argument(
        "--imgsz", type=int, nargs=2, default=(640, 480), metavar=("W", "H"), help="render size (640 480)"
    )
    det.add_argument("--cubes", type=int, default=6, help="cubes per scene, classes cycle r/g/b (default 6)")
    det.add_argument("--distractors", type=int, default=6, help="unlabelled distractor bodies (default 6)")
    det.add_argument("--color-jitter", type=float, default=0.1, help="± cube RGB jitter within class")
    det.add_argument("--depth", action="store_true", help="also write aligned depth (uint16 mm PNG)")
    det.add_argument("--depth-noise", action="store_true", help="depth with the sim's noise model")
    det.add_argument("--format", choices=("jpg", "png"), default="jpg", help="image format (jpg q95)")
    det.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from visuomotor.errors import ConfigError
    from visuomotor.training.detector_data import DatasetConfig, build_dataset

    counts = {"--images": args.images, "--val-images": args.val_images, "--cubes": args.cubes,
              "--distractors": args.distractors, "--seed": args.seed, "--val-seed": args.val_seed}
    for flag, value in counts.items():
        if value < 0:
            raise ConfigError(f"{flag} must be ≥ 0, got {value}")
    if args.images + args.val_images == 0:
        raise ConfigError("--images and --val-images are both 0: nothing to render")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a file; name a directory (created if missing)")

    config = DatasetConfig(
        width_px=args.imgsz[0],
        height_px=args.imgsz[1],
        num_cubes=args.cubes,
        num_distractors=args.distractors,
        cube_color_jitter=args.color_jitter,
        depth_noise=args.depth_noise,
        save_depth=args.depth,
        image_format=args.format,
    )
    config = replace(config)  # validated in __post_init__
    total = args.images + args.val_images
    start = time.perf_counter()
    with tqdm(total=total, unit="frame", disable=args.no_progress, desc="rendering") as bar:
        manifest = build_dataset(
            args.out, args.images, args.val_images, args.seed, args.val_seed, config, bar.update
        )
    elapsed = time.perf_counter() - start
    manifest["command"] = "visuomotor " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    manifest["render_seconds"] = round(elapsed, 1)
    (Path(args.out) / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for split, summary in manifest["splits"].items():
        print(
            f"{split}: {summary['images']} frames (seed {summary['seed']}), "
            f"instances {summary['instances']}, "
            f"occlusion-trimmed {summary['occluded']}"
        )
    print(f"wrote {Path(args.out) / 'dataset.yaml'} in {elapsed:.0f} s")
    return 0
