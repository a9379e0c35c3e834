"""Camera extrinsics: a rigid transform ``T_parent_child`` and its YAML file format.

``config/extrinsics/*.yaml`` holds one transform, written by a calibration tool (or, for the sim, from
``SimWorld.T_base_link_camera``)::

    parent_frame: base_link
    child_frame: camera_color_optical_frame
    translation_m: [x, y, z]              # child origin in the parent frame, metres
    quaternion_wxyz: [w, x, y, z]         # or quaternion_xyzw (ROS/tf order), or instead of both:
    # matrix: [[r, r, r, x], [r, r, r, y], [r, r, r, z], [0, 0, 0, 1]]

Convention: p_parent = R·p_child + t. Quaternions go through transforms3d (w, x, y, z).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import transforms3d.quaternions as tq
import yaml

from visuomotor.errors import ConfigError

__all__ = ["Extrinsics", "extrinsics_from_dict", "load_extrinsics"]

#: Largest |‖q‖ − 1| accepted; quaternions written with ≥ 4 decimals pass and are then normalised.
QUATERNION_NORM_TOLERANCE = 1e-4
#: Largest |RᵀR − I| entry (and |det R − 1|) accepted for a matrix; it is then snapped onto SO(3).
ROTATION_TOLERANCE = 1e-5

_ROTATION_KEYS = ("quaternion_wxyz", "quaternion_xyzw", "matrix")
_KNOWN_KEYS = ("parent_frame", "child_frame", "translation_m", *_ROTATION_KEYS)


@dataclass(frozen=True, slots=True, eq=False)
class Extrinsics:
    """A rigid transform ``T_parent_child``: p_parent = R·p_child + t.

    Attributes:
        parent_frame: frame the result is expressed in (e.g. ``base_link``).
        child_frame: frame of the points transformed (e.g. ``camera_color_optical_frame``).
        matrix: (4, 4) homogeneous transform, float64, read-only; its rotation is orthonormal with det +1.
    """

    parent_frame: str
    child_frame: str
    matrix: np.ndarray

    def __post_init__(self) -> None:
        for key in ("parent_frame", "child_frame"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"extrinsics: {key} must be a non-empty frame name, got {value!r}")
        object.__setattr__(self, "matrix", _checked_matrix(self.matrix, "matrix", "Extrinsics"))

    @classmethod
    def from_translation_quaternion(
        cls,
        translation_m: Any,
        quaternion_wxyz: Any,
        parent_frame: str,
        child_frame: str,
    ) -> Extrinsics:
        """Build from (3,) translation in metres and a (4,) unit quaternion (w, x, y, z).

        Raises:
            ConfigError: wrong shapes, non-finite numbers or a quaternion that is not unit length.
        """
        t = _vector(translation_m, 3, "translation_m", "Extrinsics")
        q = _unit_quaternion(
            _vector(quaternion_wxyz, 4, "quaternion_wxyz", "Extrinsics"), "quaternion_wxyz", "Extrinsics"
        )
        T = np.eye(4)
        T[:3, :3] = tq.quat2mat(q)
        T[:3, 3] = t
        return cls(parent_frame, child_frame, T)

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) R_parent_child."""
        return self.matrix[:3, :3]

    @property
    def translation_m(self) -> np.ndarray:
        """(3,) child origin in the parent frame, metres."""
        return self.matrix[:3, 3]

    @property
    def quaternion_wxyz(self) -> np.ndarray:
        """(4,) R_parent_child as a unit quaternion (w, x, y, z), w ≥ 0."""
        return tq.mat2quat(self.rotation)

    def transform_points(self, p_child: np.ndarray) -> np.ndarray:
        """Map points from the child into the parent frame.

        Args:
            p_child: (..., 3) points in ``child_frame``, metres.

        Returns:
            (..., 3) the same points in ``parent_frame``.
        """
        return np.asarray(p_child, dtype=np.float64) @ self.rotation.T + self.translation_m

    def inverse(self) -> Extrinsics:
        """``T_child_parent``."""
        T = np.eye(4)
        T[:3, :3] = self.rotation.T
        T[:3, 3] = -self.rotation.T @ self.translation_m
        return Extrinsics(self.child_frame, self.parent_frame, T)

    def to_dict(self) -> dict[str, Any]:
        """The YAML form read by :func:`extrinsics_from_dict` (translation + quaternion, plain floats)."""
        return {
            "parent_frame": self.parent_frame,
            "child_frame": self.child_frame,
            "translation_m": [float(v) for v in self.translation_m],
            "quaternion_wxyz": [float(v) for v in self.quaternion_wxyz],
        }


def load_extrinsics(path: str | Path) -> Extrinsics:
    """Read one ``T_parent_child`` from a YAML file (format in the module docstring).

    Args:
        path: the YAML file, e.g. ``config/extrinsics/sim.yaml``.

    Returns:
        The validated transform.

    Raises:
        ConfigError: the file is missing or not YAML, a key is unknown/missing/malformed, the quaternion is
            not unit length or the matrix is not a rigid transform; the message names the key and the file.
    """
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ConfigError(
            f"cannot read the extrinsics file {str(path)!r}: {err.strerror}; pass an existing file "
            "from config/extrinsics/"
        ) from err
    except yaml.YAMLError as err:
        raise ConfigError(f"extrinsics file {str(path)!r} is not valid YAML: {err}") from err
    return extrinsics_from_dict(doc, source=str(path))


def extrinsics_from_dict(doc: Any, source: str = "<dict>") -> Extrinsics:
    """Validate the parsed YAML of one extrinsics file.

    Args:
        doc: mapping with ``parent_frame``, ``child_frame`` and either ``translation_m`` + one of
            ``quaternion_wxyz`` / ``quaternion_xyzw``, or a 4×4 ``matrix``.
        source: where ``doc`` came from, for the error messages.

    Raises:
        ConfigError: as :func:`load_extrinsics`.
    """
    if not isinstance(doc, Mapping):
        raise ConfigError(
            f"extrinsics {source}: expected a mapping with keys {', '.join(_KNOWN_KEYS)}, "
            f"got {type(doc).__name__}"
        )
    unknown = sorted(str(k) for k in doc if k not in _KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"extrinsics {source}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(_KNOWN_KEYS)}"
        )
    for key in ("parent_frame", "child_frame"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise ConfigError(
                f"extrinsics {source}: {key} must be a non-empty frame name, got {doc.get(key)!r}"
            )
    given = [k for k in _ROTATION_KEYS if k in doc]
    if len(given) != 1:
        raise ConfigError(
            f"extrinsics {source}: give exactly one of quaternion_wxyz, quaternion_xyzw or matrix, "
            f"got {given or 'none'}"
        )
    parent, child = doc["parent_frame"], doc["child_frame"]
    if given[0] == "matrix":
        if "translation_m" in doc:
            raise ConfigError(
                f"extrinsics {source}: translation_m must not be given with matrix (its last column holds it)"
            )
        return Extrinsics(parent, child, _checked_matrix(doc["matrix"], "matrix", source))
    if "translation_m" not in doc:
        raise ConfigError(f"extrinsics {source}: translation_m [x, y, z] (metres) is missing")
    t = _vector(doc["translation_m"], 3, "translation_m", source)
    q = _vector(doc[given[0]], 4, given[0], source)
    if given[0] == "quaternion_xyzw":
        q = np.roll(q, 1)  # ROS/tf order → transforms3d order
    q = _unit_quaternion(q, given[0], source)
    T = np.eye(4)
    T[:3, :3] = tq.quat2mat(q)
    T[:3, 3] = t
    return Extrinsics(parent, child, T)


def _vector(value: Any, n: int, key: str, source: str) -> np.ndarray:
    try:
        v = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"extrinsics {source}: {key} must be {n} numbers, got {value!r}") from err
    if v.shape != (n,) or not np.isfinite(v).all():
        raise ConfigError(f"extrinsics {source}: {key} must be {n} finite numbers, got {value!r}")
    return v


def _unit_quaternion(q: np.ndarray, key: str, source: str) -> np.ndarray:
    norm = float(np.linalg.norm(q))
    if not math.isclose(norm, 1.0, abs_tol=QUATERNION_NORM_TOLERANCE):
        raise ConfigError(
            f"extrinsics {source}: {key} must be a unit quaternion, its norm is {norm:.6f} "
            "(check the component order and the number of decimals)"
        )
    return q / norm


def _checked_matrix(value: Any, key: str, source: str) -> np.ndarray:
    """Validate a 4×4 rigid transform; return a read-only copy with R snapped onto SO(3)."""
    try:
        T = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"extrinsics {source}: {key} must be a 4×4 matrix of numbers, got {value!r}"
        ) from err
    if T.shape != (4, 4) or not np.isfinite(T).all():
        raise ConfigError(f"extrinsics {source}: {key} must be a finite 4×4 matrix, got shape {T.shape}")
    if not np.allclose(T[3], (0.0, 0.0, 0.0, 1.0), atol=1e-12, rtol=0.0):
        raise ConfigError(f"extrinsics {source}: {key} last row must be [0, 0, 0, 1], got {T[3].tolist()}")
    R = T[:3, :3]
    ortho_err = float(np.abs(R.T @ R - np.eye(3)).max())
    det = float(np.linalg.det(R))
    if ortho_err > ROTATION_TOLERANCE or abs(det - 1.0) > ROTATION_TOLERANCE:
        raise ConfigError(
            f"extrinsics {source}: {key} rotation block is not orthonormal with det +1 "
            f"(max |RᵀR − I| = {ortho_err:.2e}, det = {det:.6f}); write a rotation, not a scaled or "
            "mirrored matrix"
        )
    # Snap onto SO(3) so rounding in the file never accumulates into skew.
    u, _, vt = np.linalg.svd(R)
    T[:3, :3] = u @ vt
    T.setflags(write=False)
    return T
