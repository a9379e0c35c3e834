"""Property test: whatever the chunk, an accepted command never breaks a limit.

hypothesis is not installed in the project venv, so this is a seeded numpy loop over random chunks (small
and huge steps, rotations, NaN, unreachable poses, moving starts, with and without time scaling). Every
accepted trajectory is re-checked independently of the guard: sampled with the sim's JTC interpolation
(``visuomotor.sim.jtc.interpolate_trajectory``) and pushed through FK.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from scipy.spatial.transform import Rotation

from visuomotor.control import Commander, SafetyConfig
from visuomotor.kinematics import T_FLANGE_TCP, Ur10eKinematics
from visuomotor.sim.jtc import interpolate_trajectory
from visuomotor.sim.world import top_down_tcp_pose

Q_HOME = np.array([-0.4, -2.2, 2.1, -1.47, -1.5708, 0.0])
KIN = Ur10eKinematics(T_flange_tcp=T_FLANGE_TCP)
FLANGE = Ur10eKinematics()
NOW = 10**12


def _random_chunk(
    rng: np.random.Generator, q0: np.ndarray, drift_m: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    k = int(rng.integers(1, 9))
    step_s = float(rng.uniform(0.03, 0.3))
    sigma_p = float(rng.choice([0.003, 0.01, 0.02, 0.1, 0.4]))
    sigma_r = float(rng.choice([0.0, 0.0, 0.01, 0.05, 0.8])) if drift_m is None else 0.0
    drift = np.zeros(3) if drift_m is None else drift_m
    T = KIN.forward(q0)
    poses = np.empty((k, 4, 4))
    for i in range(k):
        T = T.copy()
        T[:3, 3] += rng.normal(0, sigma_p, 3) + drift
        T[:3, :3] = Rotation.from_rotvec(rng.normal(0, sigma_r, 3) * (sigma_r > 0)).as_matrix() @ T[:3, :3]
        poses[i] = T
    if rng.random() < 0.05:
        poses[rng.integers(k), rng.integers(3), 3] = rng.choice([np.nan, np.inf])
    gripper = rng.uniform(-0.2, 1.2, k)
    return poses, gripper, step_s


def _low_start(rng: np.random.Generator) -> np.ndarray:
    """Joints with the tool pointing down just above the table, near the edges of the workspace box."""
    p = np.array([rng.uniform(0.2, 1.0), rng.uniform(-0.7, 0.6), rng.uniform(0.02, 0.12)])
    return KIN.nearest(top_down_tcp_pose(p, rng.uniform(-np.pi, np.pi)), Q_HOME)


def _verify(cfg: SafetyConfig, q0: np.ndarray, qd0: np.ndarray, poses: np.ndarray | None, cmd) -> None:
    assert np.isfinite(cmd.positions).all() and np.isfinite(cmd.velocities).all()
    if poses is not None:
        T = KIN.forward_batch(cmd.positions)
        assert np.abs(T[:, :3, 3] - poses[:, :3, 3]).max() < 1e-6
        assert cmd.gripper in (0.0, 1.0)
    knots_t = [0.0, *cmd.times_s.tolist()]
    knots = np.vstack([q0, cmd.positions])
    knot_v = np.vstack([qd0, cmd.velocities])
    lim = cfg.joint_limits_rad()
    vmax, amax = cfg.velocity_limits_rad_s(), cfg.acceleration_limits_rad_s2()
    qs = []
    for k in range(len(knots_t) - 1):
        t0, dur = knots_t[k], knots_t[k + 1] - knots_t[k]
        for s in np.linspace(0.005, 0.995, 25):
            t = t0 + s * dur
            q, qd = interpolate_trajectory(t, knots_t, knots, knot_v)
            h = 1e-5 * dur
            qdd = (
                interpolate_trajectory(t + h, knots_t, knots, knot_v)[1]
                - interpolate_trajectory(t - h, knots_t, knots, knot_v)[1]
            ) / (2 * h)
            assert (q >= lim[:, 0] - 1e-9).all() and (q <= lim[:, 1] + 1e-9).all()
            assert (np.abs(qd) <= vmax * (1 + 1e-6)).all(), (np.abs(qd) / vmax).max()
            assert (np.abs(qdd) <= amax * (1 + 1e-4)).all(), (np.abs(qdd) / amax).max()
            qs.append(q)
    qs = np.array(qs)
    p = KIN.forward_batch(qs)[:, :3, 3]
    z_flange = FLANGE.forward_batch(qs)[:, 2, 3]
    tol = 1e-3  # the guard samples every 0.02 rad; this denser re-check may find sub-mm dips between
    assert (p >= np.array(cfg.workspace_min_m) - tol).all() and (
        p <= np.array(cfg.workspace_max_m) + tol
    ).all()
    assert (p[:, 2] >= cfg.min_tcp_height_m - tol).all()
    assert (z_flange >= cfg.min_flange_height_m - tol).all()


def test_accepted_commands_never_violate_a_limit() -> None:
    rng = np.random.default_rng(20261125)
    configs = [SafetyConfig(), SafetyConfig(time_scaling=False)]
    outcomes: Counter[str] = Counter()
    for trial in range(300):
        cfg = configs[trial % 2]
        c = Commander(cfg, T_flange_tcp=T_FLANGE_TCP)
        q0 = _low_start(rng) if trial % 3 == 0 else Q_HOME + rng.uniform(-0.3, 0.3, 6)
        qd0 = rng.normal(0, 0.3, 6) * (rng.random() < 0.4 and trial % 3 != 0)
        low = trial % 3 == 0  # heading down/out near the table and the box edges
        drift = rng.uniform((-0.03, -0.03, -0.02), (0.03, 0.03, 0.0)) if low else None
        poses, gripper, step_s = _random_chunk(rng, q0, drift)
        cmd = c.plan(
            poses,
            gripper,
            step_s,
            q0,
            now_ns=NOW,
            perception_stamp_ns=NOW,
            joints_stamp_ns=NOW,
            qd_current_rad_s=qd0,
        )
        outcomes[cmd.reason_code or "accepted"] += 1
        if cmd.accepted:
            _verify(cfg, q0, qd0, poses, cmd)
        else:
            assert cmd.gripper is None and cmd.reason
            if not np.array_equal(cmd.positions, q0[None]):  # a braking stop: it must obey the limits too
                outcomes["braking hold"] += 1
                _verify(cfg, q0, qd0, None, cmd)
    # The loop must exercise both sides: plenty accepted, and several distinct rejection reasons.
    assert outcomes["accepted"] >= 40 and outcomes["braking hold"] >= 10, outcomes
    assert outcomes["table_plane"] + outcomes["workspace"] >= 5, outcomes
    assert len(outcomes) >= 8, outcomes
