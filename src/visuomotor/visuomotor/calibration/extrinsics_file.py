"""Write a calibration as a ``config/extrinsics/*.yaml`` file, with its residuals beside it.

The YAML has exactly the keys of ``config/extrinsics/sim.yaml`` (``load_extrinsics`` reads it); the
residual summary and the per-view table go into its comment header, and the full numbers into a JSON
sidecar ``<name>.residuals.json`` next to it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from visuomotor.calibration.errors import CalibrationError
from visuomotor.calibration.handeye import HandEyeResult
from visuomotor.calibration.views import CalibrationRun
from visuomotor.geometry import Extrinsics, load_extrinsics

__all__ = ["CAMERA_FRAME", "PARENT_FRAME", "format_residuals", "residuals_path", "write_calibration"]

PARENT_FRAME = "base_link"
CAMERA_FRAME = "camera_color_optical_frame"


def residuals_path(yaml_path: str | Path) -> Path:
    """The JSON sidecar of an extrinsics file: ``calibrated.yaml`` → ``calibrated.residuals.json``."""
    path = Path(yaml_path)
    return path.with_name(path.stem + ".residuals.json")


def _vec(values: np.ndarray, digits: int) -> str:
    return "[" + ", ".join(f"{float(v):.{digits}f}" for v in values) + "]"


def format_residuals(run: CalibrationRun) -> list[str]:
    """Human-readable residual lines (summary, then one line per view)."""
    r = run.result
    skipped = f" (no board in: {', '.join(run.skipped)})" if run.skipped else ""
    lines = [
        f"{len(run.used)} views used, {len(run.skipped)} skipped{skipped}",
        f"reprojection RMS {r.reprojection_rms_px:.3f} px through base_link → flange → board → camera",
        f"1σ camera position {_vec(r.translation_std_mm, 3)} mm, orientation "
        f"{_vec(r.rotation_std_deg, 4)}° (base_link x, y, z; noise only)",
        f"per-view camera pose consistency: max {r.max_camera_translation_error_mm:.2f} mm, "
        f"{r.max_camera_rotation_error_deg:.3f}°",
        "view                 reproj rms/max px   PnP rms px   camera Δ mm   camera Δ°",
    ]
    for v in r.views:
        lines.append(
            f"{v.name:<20} {v.reprojection_rms_px:7.3f} / {v.reprojection_max_px:6.3f}   {v.pnp_rms_px:10.3f}"
            f"   {v.camera_translation_error_mm:11.3f}   {v.camera_rotation_error_deg:9.4f}"
        )
    return lines


def _sidecar(run: CalibrationRun, source: str) -> dict[str, Any]:
    r: HandEyeResult = run.result
    return {
        "source": source,
        "parent_frame": PARENT_FRAME,
        "child_frame": CAMERA_FRAME,
        "T_base_link_camera": r.T_base_link_camera.tolist(),
        "T_base_link_camera_closed_form": r.T_base_link_camera_closed_form.tolist(),
        "T_flange_marker": r.T_flange_marker.tolist(),
        "views_used": list(run.used),
        "views_skipped_no_board": list(run.skipped),
        "reprojection_rms_px": r.reprojection_rms_px,
        "translation_std_mm": r.translation_std_mm.tolist(),
        "rotation_std_deg": r.rotation_std_deg.tolist(),
        "max_camera_translation_error_mm": r.max_camera_translation_error_mm,
        "max_camera_rotation_error_deg": r.max_camera_rotation_error_deg,
        "views": [
            {
                "name": v.name,
                "reprojection_rms_px": v.reprojection_rms_px,
                "reprojection_max_px": v.reprojection_max_px,
                "pnp_rms_px": v.pnp_rms_px,
                "camera_translation_error_mm": v.camera_translation_error_mm,
                "camera_rotation_error_deg": v.camera_rotation_error_deg,
            }
            for v in r.views
        ],
    }


def write_calibration(path: str | Path, run: CalibrationRun, source: str) -> tuple[Path, Path]:
    """Write the extrinsics YAML and its residuals JSON.

    Args:
        path: the YAML file to write (parent directories are created), e.g.
            ``config/extrinsics/calibrated_sim.yaml``.
        run: the calibration.
        source: one line saying where the data came from (shown in both files).

    Returns:
        (yaml_path, json_path).

    Raises:
        CalibrationError: the written YAML does not read back (with ``load_extrinsics``) as the result.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = Extrinsics(PARENT_FRAME, CAMERA_FRAME, run.result.T_base_link_camera)
    doc = ext.to_dict()
    sidecar = residuals_path(path)
    header = [
        "Extrinsics of the fixed RGB-D camera: T_base_link_camera, the pose of the camera OPTICAL frame",
        "(x right, y down, z forward; REP-103) in base_link, so that p_base_link = R·p_camera + t.",
        f"Made by `visuomotor calibrate` (eye-to-hand, board on the flange) from {source}.",
        "Read with visuomotor.geometry.load_extrinsics.",
        f"Residuals (full numbers in {sidecar.name}):",
        *("  " + line for line in format_residuals(run)),
    ]
    text = "".join(f"# {line}\n" for line in header)
    text += f"parent_frame: {doc['parent_frame']}\n"
    text += f"child_frame: {doc['child_frame']}\n"
    translation = ", ".join(repr(v) for v in doc["translation_m"])
    text += f"translation_m: [{translation}]   # optical centre in base_link, metres\n"
    text += f"quaternion_wxyz: [{', '.join(repr(v) for v in doc['quaternion_wxyz'])}]\n"
    path.write_text(text)
    sidecar.write_text(json.dumps(_sidecar(run, source), indent=2) + "\n")
    # Prove the file is what every consumer will read (repr floats round-trip exactly).
    back = load_extrinsics(path).matrix
    if not np.allclose(back, ext.matrix, rtol=0.0, atol=1e-12):
        raise CalibrationError(
            f"{path} does not read back as the calibration (max Δ {np.abs(back - ext.matrix).max():.2e})"
        )
    return path, sidecar
