"""Calibration views (image + joint positions), their on-disk form, and the run from views to a result.

A capture directory — what ``visuomotor calibrate --images DIR`` reads and ``--save-views DIR`` writes::

    DIR/calibration_views.json
    DIR/view_000.png, view_001.png, ...        # colour images as captured (PNG/JPEG, any name)

``calibration_views.json``::

    {
      "board": {"squares_x": 8, "squares_y": 7, "square_size_m": 0.04},
      "intrinsics": {"width_px": 640, "height_px": 480, "fx_px": 415.7, "fy_px": 415.7,
                     "cx_px": 319.5, "cy_px": 239.5},          # the colour stream's camera_info K
      "joint_names": ["shoulder_pan_joint", ..., "wrist_3_joint"],
      "views": [{"image": "view_000.png", "joint_positions_rad": [q1, ..., q6]}, ...]
    }

``joint_names`` gives the order of every ``joint_positions_rad`` list (as in ``/joint_states``); it may
be omitted when the lists are already in ``UR10E_JOINT_NAMES`` order. Record the joints with the arm at
rest, from the same robot state the image shows. The colour image must be rectified (RealSense colour
is), since the intrinsics have no distortion terms.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from visuomotor.calibration.errors import CalibrationError
from visuomotor.calibration.handeye import MIN_VIEWS, HandEyeObservation, HandEyeResult, solve_eye_to_hand
from visuomotor.calibration.marker import Checkerboard, detect_checkerboard
from visuomotor.errors import ConfigError
from visuomotor.geometry import CameraIntrinsics
from visuomotor.kinematics import UR10E_JOINT_NAMES, Ur10eKinematics

__all__ = [
    "VIEWS_FILE",
    "CalibrationRun",
    "CalibrationView",
    "calibrate_views",
    "load_views",
    "save_views",
]

#: Name of the index file inside a capture directory.
VIEWS_FILE = "calibration_views.json"


@dataclass(frozen=True, slots=True)
class CalibrationView:
    """One arm pose of a calibration.

    Attributes:
        name: the view's name (its image file name).
        rgb: (H, W, 3) uint8 colour image, RGB order.
        joint_positions_rad: (6,) arm joints in ``UR10E_JOINT_NAMES`` order, radians.
    """

    name: str
    rgb: np.ndarray
    joint_positions_rad: np.ndarray


@dataclass(frozen=True, slots=True)
class CalibrationRun:
    """What :func:`calibrate_views` did.

    Attributes:
        result: the calibration and its residuals.
        used: names of the views that entered the solution.
        skipped: names of the views in which the whole board was not found.
    """

    result: HandEyeResult
    used: tuple[str, ...]
    skipped: tuple[str, ...]


def calibrate_views(
    views: Sequence[CalibrationView],
    board: Checkerboard,
    intrinsics: CameraIntrinsics,
    *,
    kinematics: Ur10eKinematics | None = None,
    max_reprojection_rms_px: float = 2.0,
) -> CalibrationRun:
    """Detect the board in every view, skip the views without it, and solve for T_base_link_camera.

    Args:
        views: the captured views.
        board: the printed board.
        intrinsics: pinhole model of the colour images.
        kinematics: forward kinematics of the arm (a plain UR10e when None; the flange pose is used, so
            its tool transform does not matter).
        max_reprojection_rms_px: see :func:`~visuomotor.calibration.handeye.solve_eye_to_hand`.

    Raises:
        CalibrationError: an image of the wrong size, too few views with the board (the message counts
            the skipped ones), degenerate poses, or a solution that does not fit.
    """
    kin = kinematics if kinematics is not None else Ur10eKinematics()
    observations, skipped = [], []
    for view in views:
        if view.rgb.shape[:2] != (intrinsics.height_px, intrinsics.width_px):
            raise CalibrationError(
                f"view {view.name!r} is {view.rgb.shape[1]}×{view.rgb.shape[0]} px but the intrinsics are "
                f"for {intrinsics.width_px}×{intrinsics.height_px}; use the captured stream's camera_info"
            )
        corners = detect_checkerboard(view.rgb, board)
        if corners is None:
            skipped.append(view.name)
            continue
        T_flange = kin.forward_flange(np.asarray(view.joint_positions_rad, dtype=np.float64))
        observations.append(HandEyeObservation(view.name, T_flange, corners))
    if skipped and len(observations) < MIN_VIEWS:
        raise CalibrationError(
            f"the {board.squares_x}×{board.squares_y} board was found in only {len(observations)} of "
            f"{len(views)} images (not in: {', '.join(skipped)}); check the board size and keep the whole "
            "board, with its white border, in view and in focus"
        )
    result = solve_eye_to_hand(
        observations, board, intrinsics, max_reprojection_rms_px=max_reprojection_rms_px
    )
    return CalibrationRun(result, tuple(o.name for o in observations), tuple(skipped))


# ---------------------------------------------------------------------------------------------- files


def save_views(
    directory: str | Path,
    views: Sequence[CalibrationView],
    board: Checkerboard,
    intrinsics: CameraIntrinsics,
) -> Path:
    """Write views as a capture directory (format in the module doc); returns the index file's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for view in views:
        if not cv2.imwrite(str(directory / view.name), cv2.cvtColor(view.rgb, cv2.COLOR_RGB2BGR)):
            raise CalibrationError(f"cannot write {directory / view.name}; name views with a .png suffix")
        entries.append(
            {"image": view.name, "joint_positions_rad": [float(q) for q in view.joint_positions_rad]}
        )
    index = {
        "board": {
            "squares_x": board.squares_x,
            "squares_y": board.squares_y,
            "square_size_m": board.square_size_m,
        },
        "intrinsics": {
            key: getattr(intrinsics, key)
            for key in ("width_px", "height_px", "fx_px", "fy_px", "cx_px", "cy_px")
        },
        "joint_names": list(UR10E_JOINT_NAMES),
        "views": entries,
    }
    path = directory / VIEWS_FILE
    path.write_text(json.dumps(index, indent=2) + "\n")
    return path


def _field(doc: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(doc, dict) or key not in doc:
        raise ConfigError(f"{where}: missing key {key!r}")
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{where}: {key!r} has the wrong type: {value!r}")
    return value


def load_views(directory: str | Path) -> tuple[list[CalibrationView], Checkerboard, CameraIntrinsics]:
    """Read a capture directory (format in the module doc).

    Returns:
        (views, board, intrinsics); joint positions reordered to ``UR10E_JOINT_NAMES``.

    Raises:
        ConfigError: a missing or malformed index file or image, naming the file and key.
    """
    directory = Path(directory)
    path = directory / VIEWS_FILE
    try:
        doc = json.loads(path.read_text())
    except OSError as err:
        raise ConfigError(
            f"cannot read {path}: {err.strerror}; --images needs a directory with {VIEWS_FILE} "
            "(format: `visuomotor calibrate --help`)"
        ) from err
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON: {err}") from err
    where = str(path)
    number = (int, float)
    b = _field(doc, "board", dict, where)
    k = _field(doc, "intrinsics", dict, where)
    try:
        board = Checkerboard(
            _field(b, "squares_x", int, f"{where} board"),
            _field(b, "squares_y", int, f"{where} board"),
            float(_field(b, "square_size_m", number, f"{where} board")),
        )
        intrinsics = CameraIntrinsics(
            _field(k, "width_px", int, f"{where} intrinsics"),
            _field(k, "height_px", int, f"{where} intrinsics"),
            *(
                float(_field(k, key, number, f"{where} intrinsics"))
                for key in ("fx_px", "fy_px", "cx_px", "cy_px")
            ),
        )
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err
    names = doc.get("joint_names", list(UR10E_JOINT_NAMES))
    if not isinstance(names, list) or sorted(names) != sorted(UR10E_JOINT_NAMES):
        raise ConfigError(
            f"{where}: joint_names must list the six UR joints {list(UR10E_JOINT_NAMES)}, got {names!r}"
        )
    order = [names.index(n) for n in UR10E_JOINT_NAMES]
    views = []
    for i, entry in enumerate(_field(doc, "views", list, where)):
        at = f"{where} views[{i}]"
        image_name = _field(entry, "image", str, at)
        try:
            q = np.asarray(_field(entry, "joint_positions_rad", list, at), dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{at}: joint_positions_rad must be 6 numbers: {err}") from err
        if q.shape != (6,) or not np.isfinite(q).all():
            raise ConfigError(
                f"{at}: joint_positions_rad must be 6 finite numbers, got {entry['joint_positions_rad']!r}"
            )
        bgr = cv2.imread(str(directory / image_name), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ConfigError(f"{at}: cannot read the image {directory / image_name}")
        views.append(CalibrationView(image_name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), q[order]))
    return views, board, intrinsics
