"""Extrinsic hand-eye calibration of the fixed camera (eye-to-hand, checkerboard on the flange).

``marker`` defines the board and finds it in an image, ``handeye`` solves A·Y = X·B for the camera pose
``X = T_base_link_camera`` and the board mount ``Y = T_flange_marker`` with per-view residuals,
``views`` carries images + joint positions (and their capture-directory format), ``extrinsics_file``
writes ``config/extrinsics/*.yaml``; planning and rendering views in the MuJoCo sim is the sim's
(``visuomotor.sim.calibration``). The
command is ``visuomotor calibrate`` (``visuomotor.cli.calibrate``).
"""

from visuomotor.calibration.errors import CalibrationError
from visuomotor.calibration.extrinsics_file import format_residuals, residuals_path, write_calibration
from visuomotor.calibration.handeye import (
    HandEyeObservation,
    HandEyeResult,
    ViewResidual,
    check_rotation_diversity,
    solve_ax_yb_linear,
    solve_eye_to_hand,
)
from visuomotor.calibration.marker import BoardPose, Checkerboard, detect_checkerboard, estimate_board_pose
from visuomotor.calibration.views import (
    CalibrationRun,
    CalibrationView,
    calibrate_views,
    load_views,
    save_views,
)

__all__ = [
    "BoardPose",
    "CalibrationError",
    "CalibrationRun",
    "CalibrationView",
    "Checkerboard",
    "HandEyeObservation",
    "HandEyeResult",
    "ViewResidual",
    "calibrate_views",
    "check_rotation_diversity",
    "detect_checkerboard",
    "estimate_board_pose",
    "format_residuals",
    "load_views",
    "residuals_path",
    "save_views",
    "solve_ax_yb_linear",
    "solve_eye_to_hand",
    "write_calibration",
]
