"""The policy's observation and action vectors, their normalisation, and pose ↔ action conversion.

Observation (``OBS_DIM`` = 13, float32), everything in ``base_link``:

====== ============================================ =====
slice  content                                      units
====== ============================================ =====
0:6    measured joint positions, UR10E_JOINT_NAMES  rad
6      measured gripper closure, 0 open … 1 closed  —
7:10   target cube centre (tracked)                 m
10:13  bin centre (its bounding-box centre)         m
====== ============================================ =====

The conveyor task (``TASK_OBS_LAYOUTS["conveyor"]``, 16 numbers) appends what a moving target needs:

====== ============================================ =====
13:16  target velocity (tracked), base_link         m/s
====== ============================================ =====

Action (``ACTION_DIM`` = 10), one per control period; a chunk is k of them, the first one due at the next
control tick:

====== ============================================================== =====
slice  content                                                        units
====== ============================================================== =====
0:3    TCP position target, T_base_link_tcp translation               m
3:9    TCP orientation as the 6D rotation of Zhou et al. (CVPR 2019):
       the first two COLUMNS of R_base_link_tcp (tool x axis, y axis)  —
9      gripper command, 0 open … 1 closed                             —
====== ============================================================== =====

Why 6D and not a quaternion: it is continuous (no q/−q double cover for the regression to straddle) and
averages sensibly in the temporal ensembler; :func:`rotation_from_6d` re-orthonormalises with
Gram–Schmidt, so any 6 numbers give a valid rotation.

Normalisation is z-scoring with per-dimension mean/std computed from the demos (std floored so constant
dimensions do not blow up); the stats are stored as JSON in the ONNX model's metadata
(``obs_mean``, ``obs_std``, ``action_mean``, ``action_std``) and applied by the runtime in numpy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from visuomotor.policy.errors import PolicyError

__all__ = [
    "ACTION_DIM",
    "ACTION_LAYOUT",
    "CONVEYOR_OBS_DIM",
    "CONVEYOR_OBS_LAYOUT",
    "OBS_DIM",
    "OBS_LAYOUT",
    "TASKS",
    "TASK_OBS_LAYOUTS",
    "NormStats",
    "action_from_pose",
    "build_observation",
    "gripper_command",
    "pose_from_action",
    "rotation_from_6d",
    "rotation_to_6d",
]

#: name → (start, stop) of each observation field.
OBS_LAYOUT: dict[str, tuple[int, int]] = {
    "joint_positions_rad": (0, 6),
    "gripper_closure": (6, 7),
    "p_base_link_target_m": (7, 10),
    "p_base_link_bin_m": (10, 13),
}
OBS_DIM = 13
#: The conveyor task's observation: the pick task's plus the target's velocity.
CONVEYOR_OBS_LAYOUT: dict[str, tuple[int, int]] = {**OBS_LAYOUT, "v_base_link_target_m_s": (13, 16)}
CONVEYOR_OBS_DIM = 16
#: Tasks the policy knows and their observation layouts (a model is trained for one of them).
TASKS = ("pick", "conveyor")
TASK_OBS_LAYOUTS: dict[str, dict[str, tuple[int, int]]] = {
    "pick": OBS_LAYOUT,
    "conveyor": CONVEYOR_OBS_LAYOUT,
}
#: name → (start, stop) of each action field.
ACTION_LAYOUT: dict[str, tuple[int, int]] = {
    "p_base_link_tcp_m": (0, 3),
    "rot6d_base_link_tcp": (3, 9),
    "gripper_command": (9, 10),
}
ACTION_DIM = 10
#: Smallest std used for normalisation (a dimension that never changes would divide by ~0).
STD_FLOOR = 1e-3


def _vector(name: str, value: object, n: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise PolicyError(f"observation field {name} is not numeric: {err}") from err
    if arr.shape != (n,):
        raise PolicyError(f"observation field {name} needs {n} numbers, got {arr.size}")
    if not np.isfinite(arr).all():
        raise PolicyError(f"observation field {name} contains NaN or inf: {arr.tolist()}")
    return arr


def build_observation(
    joint_positions_rad: Sequence[float] | np.ndarray,
    gripper_closure: float,
    p_base_link_target_m: Sequence[float] | np.ndarray,
    p_base_link_bin_m: Sequence[float] | np.ndarray,
    v_base_link_target_m_s: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """Assemble the float32 observation (layouts in the module docstring): (OBS_DIM,) for the pick task,
    (CONVEYOR_OBS_DIM,) when the target's velocity is given (the conveyor task).

    Raises:
        PolicyError: a field of the wrong size or with NaN/inf (names the field).
    """
    parts = [
        _vector("joint_positions_rad", joint_positions_rad, 6),
        _vector("gripper_closure", gripper_closure, 1),
        _vector("p_base_link_target_m", p_base_link_target_m, 3),
        _vector("p_base_link_bin_m", p_base_link_bin_m, 3),
    ]
    if v_base_link_target_m_s is not None:
        parts.append(_vector("v_base_link_target_m_s", v_base_link_target_m_s, 3))
    return np.concatenate(parts).astype(np.float32)


def rotation_to_6d(R: np.ndarray) -> np.ndarray:
    """(…, 3, 3) rotation → (…, 6): first column then second column."""
    R = np.asarray(R)
    return np.concatenate([R[..., :, 0], R[..., :, 1]], axis=-1)


def rotation_from_6d(r6: np.ndarray) -> np.ndarray:
    """(…, 6) → (…, 3, 3) rotation by Gram–Schmidt (Zhou et al. 2019, eq. in §4.2).

    Raises:
        PolicyError: degenerate input (a zero or two parallel columns).
    """
    r6 = np.asarray(r6, dtype=np.float64)
    a, b = r6[..., 0:3], r6[..., 3:6]
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    if (na < 1e-9).any():
        raise PolicyError("6D rotation has a zero first column; the action is not a rotation")
    x = a / na
    b = b - np.sum(x * b, axis=-1, keepdims=True) * x
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    if (nb < 1e-9).any():
        raise PolicyError("6D rotation has parallel columns; the action is not a rotation")
    y = b / nb
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)  # columns x, y, z


def action_from_pose(T_base_link_tcp: np.ndarray, gripper: float) -> np.ndarray:
    """(4, 4) TCP pose + gripper command → (ACTION_DIM,) float64 action."""
    T = np.asarray(T_base_link_tcp, dtype=np.float64)
    return np.concatenate([T[:3, 3], rotation_to_6d(T[:3, :3]), [float(gripper)]])


def pose_from_action(action: np.ndarray) -> tuple[np.ndarray, float]:
    """(ACTION_DIM,) action → ((4, 4) T_base_link_tcp, gripper command clipped to [0, 1]).

    Raises:
        PolicyError: wrong size, NaN/inf, or a degenerate rotation.
    """
    a = np.asarray(action, dtype=np.float64)
    if a.shape != (ACTION_DIM,):
        raise PolicyError(f"an action has {ACTION_DIM} numbers, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise PolicyError(f"the action contains NaN or inf: {a.tolist()}")
    T = np.eye(4)
    T[:3, :3] = rotation_from_6d(a[3:9])
    T[:3, 3] = a[0:3]
    return T, float(np.clip(a[9], 0.0, 1.0))


def gripper_command(value: float, threshold: float = 0.5) -> float:
    """Binary gripper command from the policy's (ensembled) gripper output: 1.0 if ≥ threshold, else 0.0.

    The expert only ever commands 0 or 1. Sent as a continuous value, the policy's gripper output — which
    tracks the measured closure — can settle on a fixed point between open and closed (seen in rollouts
    after a missed grasp: command ≈ closure ≈ 0.6 forever); a binary command breaks it.
    """
    if not math.isfinite(value):
        raise PolicyError(f"gripper output is {value}; the policy output is invalid")
    return 1.0 if value >= threshold else 0.0


@dataclass(frozen=True, slots=True)
class NormStats:
    """Per-dimension z-score statistics of observations and actions.

    Attributes:
        obs_mean, obs_std: (obs_dim,) float32.
        action_mean, action_std: (ACTION_DIM,) float32; std ≥ STD_FLOOR.
        obs_dim: observation width (OBS_DIM for the pick task, CONVEYOR_OBS_DIM for the conveyor).
    """

    obs_mean: np.ndarray
    obs_std: np.ndarray
    action_mean: np.ndarray
    action_std: np.ndarray
    obs_dim: int = OBS_DIM

    def __post_init__(self) -> None:
        for name, n in (
            ("obs_mean", self.obs_dim),
            ("obs_std", self.obs_dim),
            ("action_mean", ACTION_DIM),
            ("action_std", ACTION_DIM),
        ):
            arr = np.asarray(getattr(self, name), dtype=np.float32).reshape(-1)
            if arr.shape != (n,) or not np.isfinite(arr).all():
                raise PolicyError(f"normalisation {name} must be {n} finite numbers, got {arr.tolist()}")
            if name.endswith("_std") and (arr <= 0).any():
                raise PolicyError(f"normalisation {name} must be positive, got {arr.tolist()}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @classmethod
    def from_data(cls, observations: np.ndarray, actions: np.ndarray) -> NormStats:
        """Stats of (N, OBS_DIM) observations and (M, ACTION_DIM) actions (std floored at STD_FLOOR)."""
        obs = np.asarray(observations, dtype=np.float64)
        act = np.asarray(actions, dtype=np.float64)
        return cls(
            obs.mean(axis=0),
            np.maximum(obs.std(axis=0), STD_FLOOR),
            act.mean(axis=0),
            np.maximum(act.std(axis=0), STD_FLOOR),
            obs_dim=int(obs.shape[1]),
        )

    def normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        """(…, obs_dim) raw → normalised float32."""
        return ((np.asarray(obs, dtype=np.float32) - self.obs_mean) / self.obs_std).astype(np.float32)

    def unnormalize_obs(self, obs_n: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`normalize_obs`."""
        return (np.asarray(obs_n, dtype=np.float32) * self.obs_std + self.obs_mean).astype(np.float32)

    def normalize_action(self, action: np.ndarray) -> np.ndarray:
        """(…, ACTION_DIM) raw → normalised float32."""
        return ((np.asarray(action, dtype=np.float32) - self.action_mean) / self.action_std).astype(
            np.float32
        )

    def unnormalize_action(self, action_n: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`normalize_action`."""
        return (np.asarray(action_n, dtype=np.float32) * self.action_std + self.action_mean).astype(
            np.float32
        )

    def to_metadata(self) -> dict[str, str]:
        """ONNX ``metadata_props`` entries (JSON lists of floats)."""
        return {
            name: json.dumps([float(v) for v in getattr(self, name)])
            for name in ("obs_mean", "obs_std", "action_mean", "action_std")
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> NormStats:
        """Read the stats back from ONNX ``metadata_props`` (``obs_dim`` there; OBS_DIM when absent).

        Raises:
            PolicyError: a key is missing or not a JSON list of the right length.
        """
        values = {}
        for name in ("obs_mean", "obs_std", "action_mean", "action_std"):
            if name not in metadata:
                raise PolicyError(
                    f"the ACT model has no {name!r} metadata; export it with `visuomotor train act`"
                )
            try:
                values[name] = np.asarray(json.loads(metadata[name]), dtype=np.float32)
            except (json.JSONDecodeError, TypeError, ValueError) as err:
                raise PolicyError(f"ACT model metadata {name!r} is not a JSON list of numbers") from err
        try:
            obs_dim = int(metadata.get("obs_dim", OBS_DIM))
        except ValueError as err:
            raise PolicyError(
                f"ACT model metadata 'obs_dim' is not an integer: {metadata['obs_dim']!r}"
            ) from err
        return cls(**values, obs_dim=obs_dim)
