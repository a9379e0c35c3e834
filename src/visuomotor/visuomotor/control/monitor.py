"""Check the MEASURED robot state against the safety limits — the guard's independent second opinion.

:class:`~visuomotor.control.SafetyGuard` checks every command before it is sent; :class:`StateMonitor`
checks what the arm actually did (joint positions and velocities from the joint states, the TCP and flange
from forward kinematics) against the same :class:`SafetyConfig`. A command that passed the guard can
still overshoot in the controller; this counts it. Used by ``visuomotor eval policy`` (``safety_violations``)
and usable on the robot beside the driver.

Tolerances are explicit because a tracking controller overshoots a limit-touching trajectory slightly:
``velocity_tolerance`` is relative (0.1 → 10 % over the limit is a violation), the Cartesian tolerance is
in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from visuomotor.control.config import SafetyConfig
from visuomotor.kinematics import UR10E_JOINT_NAMES, Ur10eKinematics

__all__ = ["StateMonitor", "StateViolation"]


@dataclass(frozen=True, slots=True)
class StateViolation:
    """One limit the measured state broke.

    Attributes:
        reason: ``joint_position_limit``, ``joint_velocity_limit``, ``workspace``, ``table_plane`` or
            ``non_finite`` (the codes of ``REJECTION_REASONS`` where one exists).
        detail: what, where and by how much.
    """

    reason: str
    detail: str


class StateMonitor:
    """Counts measured-state limit violations.

    Args:
        config: the limits (as the commander uses them).
        T_flange_tcp: (4, 4) TCP in the flange frame (the same tool the commander uses).
        velocity_tolerance: relative excess over a velocity limit still accepted (controller overshoot).
        cartesian_tolerance_m: excess over the workspace box / below the table minimums still accepted.
    """

    def __init__(
        self,
        config: SafetyConfig,
        *,
        T_flange_tcp: np.ndarray | None,
        velocity_tolerance: float = 0.1,
        cartesian_tolerance_m: float = 0.005,
    ) -> None:
        self.config = config
        self._kin = Ur10eKinematics(T_flange_tcp=T_flange_tcp)
        self._limits = config.joint_limits_rad()
        self._vmax = config.velocity_limits_rad_s() * (1.0 + velocity_tolerance)
        self._tol = float(cartesian_tolerance_m)
        self.samples = 0
        self.violations: list[StateViolation] = []
        self.peak_velocity_ratio = 0.0

    def reset(self) -> None:
        """Forget the counts (new episode)."""
        self.samples = 0
        self.violations.clear()
        self.peak_velocity_ratio = 0.0

    def check(self, q_rad: np.ndarray, qd_rad_s: np.ndarray) -> list[StateViolation]:
        """Check one sample of the measured state; the violations found are also kept in ``violations``.

        Args:
            q_rad: (6,) measured joints, ``UR10E_JOINT_NAMES`` order.
            qd_rad_s: (6,) measured joint velocities.
        """
        q = np.asarray(q_rad, dtype=np.float64)
        qd = np.asarray(qd_rad_s, dtype=np.float64)
        self.samples += 1
        found: list[StateViolation] = []
        if not (np.isfinite(q).all() and np.isfinite(qd).all()):
            found.append(StateViolation("non_finite", "joint state has NaN/inf"))
            self.violations.extend(found)
            return found
        cfg = self.config
        for j, name in enumerate(UR10E_JOINT_NAMES):
            lo, hi = self._limits[j]
            if not lo <= q[j] <= hi:
                found.append(
                    StateViolation("joint_position_limit", f"{name} at {q[j]:.4f} rad, limits [{lo}, {hi}]")
                )
        ratio = np.abs(qd) / (cfg.velocity_limits_rad_s())
        self.peak_velocity_ratio = max(self.peak_velocity_ratio, float(ratio.max()))
        for j in np.flatnonzero(np.abs(qd) > self._vmax):
            found.append(StateViolation(
                "joint_velocity_limit",
                f"{UR10E_JOINT_NAMES[j]} at {qd[j]:.3f} rad/s, limit {cfg.velocity_limits_rad_s()[j]}",
            ))
        if cfg.enabled:
            T_flange = self._kin.forward_flange(q)
            p_tcp = (T_flange @ self._kin.T_flange_tcp)[:3, 3]
            lo_box = np.asarray(cfg.workspace_min_m) - self._tol
            hi_box = np.asarray(cfg.workspace_max_m) + self._tol
            if not ((p_tcp >= lo_box).all() and (p_tcp <= hi_box).all()):
                where = np.round(p_tcp, 4).tolist()
                found.append(StateViolation("workspace", f"TCP at {where} m outside the box"))
            if p_tcp[2] < cfg.min_tcp_height_m - self._tol:
                found.append(
                    StateViolation("table_plane", f"TCP z {p_tcp[2]:.4f} m < {cfg.min_tcp_height_m}")
                )
            if cfg.min_flange_height_m > 0 and T_flange[2, 3] < cfg.min_flange_height_m - self._tol:
                found.append(StateViolation(
                    "table_plane", f"flange z {T_flange[2, 3]:.4f} m < {cfg.min_flange_height_m}"
                ))
        self.violations.extend(found)
        return found
