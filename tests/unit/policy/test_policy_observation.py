"""Observation/action layouts, normalisation round trips and the 6D rotation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from visuomotor.policy import (
    ACTION_DIM,
    OBS_DIM,
    OBS_LAYOUT,
    NormStats,
    PolicyError,
    action_from_pose,
    build_observation,
    pose_from_action,
    rotation_from_6d,
    rotation_to_6d,
)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    return q if np.linalg.det(q) > 0 else -q


def test_build_observation_layout() -> None:
    obs = build_observation(np.arange(6), 0.5, [1, 2, 3], [4, 5, 6])
    assert obs.shape == (OBS_DIM,) and obs.dtype == np.float32
    a, b = OBS_LAYOUT["p_base_link_target_m"]
    np.testing.assert_array_equal(obs[a:b], [1, 2, 3])
    assert obs[OBS_LAYOUT["gripper_closure"][0]] == 0.5
    assert sum(b - a for a, b in OBS_LAYOUT.values()) == OBS_DIM


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.zeros(5), 0.0, np.zeros(3), np.zeros(3)), "joint_positions_rad needs 6"),
        ((np.zeros(6), 0.0, np.zeros(2), np.zeros(3)), "p_base_link_target_m needs 3"),
        ((np.zeros(6), math.nan, np.zeros(3), np.zeros(3)), "gripper_closure contains NaN"),
        ((np.zeros(6), 0.0, np.zeros(3), [0, math.inf, 0]), "p_base_link_bin_m contains NaN or inf"),
    ],
)
def test_build_observation_rejects_bad_fields(args: tuple, match: str) -> None:
    with pytest.raises(PolicyError, match=match):
        build_observation(*args)


def test_norm_stats_round_trip_and_metadata() -> None:
    rng = np.random.default_rng(0)
    obs = rng.normal(3.0, 2.0, (500, OBS_DIM))
    obs[:, 6] = 0.25  # a constant dimension: std floored, no division by ~0
    act = rng.normal(-1.0, 0.5, (500, ACTION_DIM))
    stats = NormStats.from_data(obs, act)
    assert stats.obs_std[6] == pytest.approx(1e-3)
    x = obs[:7].astype(np.float32)
    np.testing.assert_allclose(stats.unnormalize_obs(stats.normalize_obs(x)), x, atol=1e-5)
    y = act[:4].astype(np.float32)
    np.testing.assert_allclose(stats.unnormalize_action(stats.normalize_action(y)), y, atol=1e-5)
    n = stats.normalize_obs(obs)
    np.testing.assert_allclose(n[:, :6].mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(n[:, :6].std(0), 1.0, atol=1e-4)
    back = NormStats.from_metadata(stats.to_metadata())
    for name in ("obs_mean", "obs_std", "action_mean", "action_std"):
        np.testing.assert_array_equal(getattr(back, name), getattr(stats, name))


def test_norm_stats_errors() -> None:
    with pytest.raises(PolicyError, match="no 'obs_std' metadata"):
        NormStats.from_metadata({"obs_mean": "[]"})
    good = NormStats.from_data(np.zeros((2, OBS_DIM)), np.zeros((2, ACTION_DIM))).to_metadata()
    with pytest.raises(PolicyError, match="'action_std' is not a JSON list"):
        NormStats.from_metadata({**good, "action_std": "{oops"})
    with pytest.raises(PolicyError, match="action_std must be positive"):
        NormStats.from_metadata({**good, "action_std": str([0.0] * ACTION_DIM)})
    with pytest.raises(PolicyError, match="obs_mean must be 13 finite numbers"):
        NormStats.from_metadata({**good, "obs_mean": "[1, 2]"})


def test_rotation_6d_round_trip_and_gram_schmidt() -> None:
    rng = np.random.default_rng(1)
    Rs = np.stack([_random_rotation(rng) for _ in range(20)])
    np.testing.assert_allclose(rotation_from_6d(rotation_to_6d(Rs)), Rs, atol=1e-12)
    noisy = rotation_to_6d(Rs) + rng.normal(0, 0.05, (20, 6))
    R = rotation_from_6d(noisy)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    with pytest.raises(PolicyError, match="zero first column"):
        rotation_from_6d(np.zeros(6))
    with pytest.raises(PolicyError, match="parallel columns"):
        rotation_from_6d([1, 0, 0, 2, 0, 0])


def test_action_pose_round_trip_and_errors() -> None:
    rng = np.random.default_rng(2)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = _random_rotation(rng), [0.5, -0.2, 0.3]
    a = action_from_pose(T, 0.7)
    assert a.shape == (ACTION_DIM,)
    T2, g = pose_from_action(a)
    np.testing.assert_allclose(T2, T, atol=1e-12)
    assert g == pytest.approx(0.7)
    assert pose_from_action(np.r_[a[:9], 1.3])[1] == 1.0  # gripper clipped to [0, 1]
    with pytest.raises(PolicyError, match="an action has 10 numbers"):
        pose_from_action(a[:9])
    with pytest.raises(PolicyError, match="NaN or inf"):
        pose_from_action(np.r_[math.nan, a[1:]])


def test_gripper_command_is_binary() -> None:
    from visuomotor.policy import gripper_command

    assert [gripper_command(v) for v in (-0.1, 0.49, 0.5, 0.65, 1.2)] == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert gripper_command(0.65, threshold=0.7) == 0.0
    with pytest.raises(PolicyError, match="gripper output is nan"):
        gripper_command(math.nan)
