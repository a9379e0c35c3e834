"""Hand-eye calibration end to end in the sim: render → corners → PnP → AX = YB → the true camera pose.

The acceptance bar: from ≥ 10 views the sim camera's pose is recovered within 2 mm and 0.2°, using only
the rendered images and the joint positions (the truth is read for the comparison alone).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from visuomotor.calibration import (
    CalibrationError,
    CalibrationView,
    calibrate_views,
    detect_checkerboard,
    residuals_path,
    write_calibration,
)
from visuomotor.cli import main
from visuomotor.geometry import load_extrinsics
from visuomotor.kinematics import Ur10eKinematics
from visuomotor.sim import SimConfig, SimWorld
from visuomotor.sim.calibration import SimCapture, board_of, capture_sim_views, with_marker
from visuomotor.sim.scene import T_FLANGE_MARKER

ROOT = Path(__file__).resolve().parents[3]
MAX_TRANSLATION_MM = 2.0
MAX_ROTATION_DEG = 0.2
BOARD = board_of(with_marker(SimConfig()).calibration_marker)


def _errors(T: np.ndarray, T_true: np.ndarray) -> tuple[float, float]:
    angle = Rotation.from_matrix(T_true[:3, :3].T @ T[:3, :3]).magnitude()
    return 1000.0 * float(np.linalg.norm(T[:3, 3] - T_true[:3, 3])), math.degrees(angle)


@pytest.fixture(scope="module")
def capture() -> SimCapture:
    return capture_sim_views(SimConfig(), num_poses=12, seed=0)


def _hide_board(view: CalibrationView) -> CalibrationView:
    """The same view with a grey card held over the middle of the board (as a passer-by might)."""
    corners = detect_checkerboard(view.rgb, BOARD)
    assert corners is not None
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    rgb = view.rgb.copy()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    cv2.rectangle(rgb, (int(cx - 25), int(cy - 25)), (int(cx + 25), int(cy + 25)), (128, 128, 128), -1)
    return CalibrationView(view.name, rgb, view.joint_positions_rad)


def test_sim_calibration_recovers_the_true_camera_pose(capture: SimCapture) -> None:
    run = calibrate_views(capture.views, capture.board, capture.intrinsics)
    assert len(run.used) >= 10 and run.skipped == ()
    mm, deg = _errors(run.result.T_base_link_camera, capture.T_base_link_camera_true)
    rms = run.result.reprojection_rms_px
    print(f"\nsim hand-eye from {len(run.used)} views: {mm:.3f} mm, {deg:.4f}°, RMS {rms:.3f} px")
    assert mm < MAX_TRANSLATION_MM, mm
    assert deg < MAX_ROTATION_DEG, deg
    # The board mount comes out too, and every view is explained to a fraction of a pixel.
    mm_y, deg_y = _errors(run.result.T_flange_marker, T_FLANGE_MARKER)
    assert mm_y < MAX_TRANSLATION_MM and deg_y < MAX_ROTATION_DEG, (mm_y, deg_y)
    assert run.result.reprojection_rms_px < 0.2
    assert max(v.reprojection_max_px for v in run.result.views) < 0.5


def test_views_without_the_board_are_skipped_and_reported(capture: SimCapture) -> None:
    views = list(capture.views)
    views[3] = _hide_board(views[3])
    views[7] = _hide_board(views[7])
    run = calibrate_views(views, capture.board, capture.intrinsics)
    assert run.skipped == ("view_003.png", "view_007.png")
    assert len(run.used) == len(views) - 2 and "view_003.png" not in run.used
    assert [v.name for v in run.result.views] == list(run.used)
    mm, deg = _errors(run.result.T_base_link_camera, capture.T_base_link_camera_true)
    assert mm < MAX_TRANSLATION_MM and deg < MAX_ROTATION_DEG


def test_too_few_views_with_the_board_name_the_fix(capture: SimCapture) -> None:
    with pytest.raises(CalibrationError, match=r"only 2 view\(s\) .* at least 3"):
        calibrate_views(capture.views[:2], capture.board, capture.intrinsics)
    hidden = [_hide_board(v) for v in capture.views[:6]] + list(capture.views[6:8])
    with pytest.raises(
        CalibrationError,
        match=r"found in only 2 of 8 images \(not in: view_000\.png, .*view_005\.png\).*whole board",
    ):
        calibrate_views(hidden, capture.board, capture.intrinsics)


def test_views_that_all_share_one_orientation_are_refused() -> None:
    """The arm only translates the board (a common mistake): the camera position is unobservable."""
    kin = Ur10eKinematics()
    with SimWorld(with_marker(SimConfig())) as world:
        T_cam = world.T_base_link_camera
        # The board 1 m from the camera, facing it, then moved about without turning.
        centre = T_cam[:3, 3] + T_cam[:3, 2]
        T_base_marker = np.eye(4)
        T_base_marker[:3, :3] = T_cam[:3, :3]
        views = []
        for i, offset in enumerate([(0, 0, 0), (0.1, 0, 0), (-0.1, 0, 0), (0, 0.08, 0), (0, -0.08, 0.05)]):
            T_base_marker[:3, 3] = centre + T_cam[:3, :3] @ np.array(offset, dtype=float)
            world.teleport_arm(
                kin.nearest(T_base_marker @ np.linalg.inv(T_FLANGE_MARKER), world.joint_positions())
            )
            views.append(
                CalibrationView(f"view_{i:03d}.png", world.render().rgb.copy(), world.joint_positions())
            )
        intrinsics = world.intrinsics
    assert all(detect_checkerboard(v.rgb, BOARD) is not None for v in views)
    with pytest.raises(CalibrationError, match=r"barely changes between the 5 views .* tilts by 15–40°"):
        calibrate_views(views, BOARD, intrinsics)


def test_written_file_has_the_sim_extrinsics_format_and_reads_back(
    capture: SimCapture, tmp_path: Path
) -> None:
    run = calibrate_views(capture.views, capture.board, capture.intrinsics)
    yaml_path, json_path = write_calibration(tmp_path / "calibrated_sim.yaml", run, "the sim (test)")
    assert json_path == residuals_path(yaml_path) == tmp_path / "calibrated_sim.residuals.json"
    written = yaml.safe_load(yaml_path.read_text())
    reference = yaml.safe_load((ROOT / "config" / "extrinsics" / "sim.yaml").read_text())
    assert list(written) == list(reference)
    assert written["parent_frame"] == "base_link" and written["child_frame"] == "camera_color_optical_frame"
    ext = load_extrinsics(yaml_path)
    np.testing.assert_allclose(ext.matrix, run.result.T_base_link_camera, atol=1e-12)
    text = yaml_path.read_text()
    assert "# Residuals" in text and "view_011.png" in text and "reprojection RMS" in text
    sidecar = json.loads(json_path.read_text())
    assert len(sidecar["views"]) == 12 and sidecar["views_skipped_no_board"] == []
    assert sidecar["reprojection_rms_px"] == pytest.approx(run.result.reprojection_rms_px)
    assert set(sidecar["views"][0]) >= {
        "name",
        "reprojection_rms_px",
        "pnp_rms_px",
        "camera_translation_error_mm",
    }


def test_cli_calibrates_the_sim_and_then_the_saved_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "calibrated_sim.yaml"
    views_dir = tmp_path / "views"
    rc = main(
        [
            "calibrate",
            "--sim",
            "--poses",
            "10",
            "--seed",
            "1",
            "--out",
            str(out),
            "--save-views",
            str(views_dir),
        ]
    )
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "10 views used, 0 skipped" in printed and "error against the sim's true camera pose" in printed
    sim_T = load_extrinsics(out).matrix
    mm, deg = _errors(sim_T, SimWorld().T_base_link_camera)
    assert mm < MAX_TRANSLATION_MM and deg < MAX_ROTATION_DEG
    # The real-robot path on the same captures (lossless PNG) gives the same answer.
    out_images = tmp_path / "calibrated.yaml"
    assert main(["calibrate", "--images", str(views_dir), "--out", str(out_images)]) == 0
    np.testing.assert_allclose(load_extrinsics(out_images).matrix, sim_T, atol=1e-9)
    assert main(["calibrate", "--images", str(tmp_path / "missing")]) == 2
    assert "calibration_views.json" in capsys.readouterr().err
