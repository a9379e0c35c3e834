"""Hand-eye calibration of the fixed camera: ``visuomotor calibrate (--sim | --images DIR) --out FILE``.

Eye-to-hand: a checkerboard on the flange, the camera fixed. Every view pairs a colour image with the
arm's joint positions; forward kinematics gives the flange pose, the detected board gives its pose in the
camera, and the solver finds T_base_link_camera (and the board mount), refined on the corner pixels.
Writes FILE in the config/extrinsics/*.yaml format (residuals in its comments) and FILE's
``.residuals.json`` sidecar; prints the residuals.

--sim: plans --poses arm poses (seeded by --seed) in the MuJoCo sim with the flange board enabled,
renders each and calibrates the sim camera from the images alone; prints the error against the sim's
true camera pose. --save-views DIR also writes the captured views in the --images format.

--images DIR (a real robot): DIR holds the images and ``calibration_views.json``::

  {"board": {"squares_x": 8, "squares_y": 7, "square_size_m": 0.04},
   "intrinsics": {"width_px": 640, "height_px": 480, "fx_px": ..., "fy_px": ..., "cx_px": ..., "cy_px": ...},
   "joint_names": ["shoulder_pan_joint", ..., "wrist_3_joint"],
   "views": [{"image": "view_000.png", "joint_positions_rad": [6 numbers]}, ...]}

Board: squares_x + squares_y odd, square_size_m as measured on the print, white border ≥ one square.
Intrinsics: the colour stream's camera_info K (rectified image, no distortion). joint_names: order of the
joint lists, as in /joint_states. Capture 10–20 views with the arm at rest, the whole board in view,
tilted 15–40° about different axes (not only by the last wrist joint) and spread over the image.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from visuomotor.sim import SimConfig

__all__ = ["add_arguments", "run"]

DEFAULT_SIM_OUT = Path("config/extrinsics/calibrated_sim.yaml")
DEFAULT_IMAGES_OUT = Path("config/extrinsics/calibrated.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--sim", action="store_true", help="capture the views in the MuJoCo sim")
    mode.add_argument("--images", type=Path, metavar="DIR", help="captured views (calibration_views.json)")
    parser.add_argument(
        "--out",
        type=Path,
        help=f"extrinsics YAML to write (default {DEFAULT_SIM_OUT} with --sim, else {DEFAULT_IMAGES_OUT})",
    )
    parser.add_argument("--poses", type=int, default=15, help="--sim: arm poses to capture (default 15)")
    parser.add_argument("--seed", type=int, default=0, help="--sim: pose plan and scene seed (default 0)")
    parser.add_argument(
        "--sim-config",
        type=Path,
        metavar="YAML",
        help="--sim: sim parameters file (default: config/sim.yaml values)",
    )
    parser.add_argument(
        "--render-scale", type=int, default=1, help="--sim: capture at this multiple of the camera size (1–4)"
    )
    parser.add_argument(
        "--save-views", type=Path, metavar="DIR", help="--sim: also write the views for --images"
    )
    parser.add_argument(
        "--max-rms", type=float, default=2.0, help="refuse a result with a larger reprojection RMS, px (2.0)"
    )


def _sim_config(path: Path | None) -> SimConfig:
    import yaml

    from visuomotor.errors import ConfigError
    from visuomotor.sim import SimConfig

    if path is None:
        return SimConfig()
    from visuomotor.config import read_text_file

    text = read_text_file(path, "--sim-config")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(
            f"cannot read the sim parameters {path}: {err}; pass a file like config/sim.yaml"
        ) from err
    try:
        params = doc["sim"]["ros__parameters"]
    except (KeyError, TypeError) as err:
        raise ConfigError(f"{path} has no sim: ros__parameters: section (see config/sim.yaml)") from err
    return SimConfig.from_flat(params)


def _angle_deg(R: np.ndarray) -> float:
    return math.degrees(math.acos(max(-1.0, min(1.0, (float(np.trace(R)) - 1.0) / 2.0))))


def run(args: argparse.Namespace) -> int:
    from visuomotor.calibration import (
        calibrate_views,
        format_residuals,
        load_views,
        save_views,
        write_calibration,
    )
    from visuomotor.errors import ConfigError
    from visuomotor.geometry import load_extrinsics

    if args.poses < 1:
        raise ConfigError(f"--poses must be ≥ 1, got {args.poses}")
    if not 1 <= args.render_scale <= 4:
        raise ConfigError(f"--render-scale must be 1–4, got {args.render_scale}")
    if args.out is not None and args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a directory; name the extrinsics YAML file to write")
    if args.images is not None and not args.images.is_dir():
        raise ConfigError(
            f"--images {args.images} is not a directory; pass the folder holding calibration_views.json "
            "(written by `visuomotor calibrate --sim --save-views DIR` or your capture tool)"
        )
    truth = None
    if args.sim:
        from visuomotor.sim.calibration import capture_sim_views  # MuJoCo loads only for --sim

        capture = capture_sim_views(_sim_config(args.sim_config), args.poses, args.seed, args.render_scale)
        views, board, intrinsics, truth = (
            capture.views,
            capture.board,
            capture.intrinsics,
            capture.T_base_link_camera_true,
        )
        source = f"the MuJoCo sim ({len(views)} rendered views, seed {args.seed})"
        if capture.passed_over:
            print(f"passed over {capture.passed_over} planned poses where the arm hid the board")
        if args.save_views is not None:
            print(f"wrote {save_views(args.save_views, views, board, intrinsics)}")
        out = args.out if args.out is not None else DEFAULT_SIM_OUT
    else:
        views, board, intrinsics = load_views(args.images)
        source = f"{len(views)} captured views in {args.images}"
        out = args.out if args.out is not None else DEFAULT_IMAGES_OUT
    run_ = calibrate_views(views, board, intrinsics, max_reprojection_rms_px=args.max_rms)
    yaml_path, json_path = write_calibration(out, run_, source)
    ext = load_extrinsics(yaml_path)
    for line in format_residuals(run_):
        print(line)
    t, q = ext.translation_m, ext.quaternion_wxyz
    print(
        f"T_base_link_camera: translation_m [{t[0]:.4f}, {t[1]:.4f}, {t[2]:.4f}], quaternion_wxyz "
        f"[{q[0]:.5f}, {q[1]:.5f}, {q[2]:.5f}, {q[3]:.5f}]"
    )
    if truth is not None:
        T = run_.result.T_base_link_camera
        error_mm = 1000.0 * float(np.linalg.norm(T[:3, 3] - truth[:3, 3]))
        error_deg = _angle_deg(truth[:3, :3].T @ T[:3, :3])
        print(f"error against the sim's true camera pose: {error_mm:.3f} mm, {error_deg:.4f}°")
    print(f"wrote {yaml_path} and {json_path}")
    return 0
