"""fit_resting_box and the localiser's table-plane priors (bin centre, cubes never below the table)."""

from __future__ import annotations

import itertools

import numpy as np

from visuomotor.geometry import (
    CameraIntrinsics,
    Localiser,
    LocaliserConfig,
    fit_resting_box,
    load_extrinsics,
)
from visuomotor.interfaces import Detection

ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]
EXTRINSICS = load_extrinsics(ROOT / "config" / "extrinsics" / "sim.yaml")
K = CameraIntrinsics.from_fovy(640, 480, np.deg2rad(60.0))


def project_box(centre: np.ndarray, extent: np.ndarray) -> tuple[float, float, float, float]:
    corners = centre + np.array(list(itertools.product((-0.5, 0.5), repeat=3))) * extent
    T_ct = np.linalg.inv(EXTRINSICS.matrix)
    p = corners @ T_ct[:3, :3].T + T_ct[:3, 3]
    u = K.fx_px * p[:, 0] / p[:, 2] + K.cx_px
    v = K.fy_px * p[:, 1] / p[:, 2] + K.cy_px
    return (float(u.min()), float(v.min()), float(u.max()), float(v.max()))


def test_fit_recovers_the_centre_of_a_projected_box() -> None:
    extent = np.array([0.3, 0.3, 0.1])
    for centre in ([0.55, -0.45, 0.05], [0.8, 0.2, 0.05], [0.45, 0.3, 0.05]):
        c = np.array(centre)
        fit = fit_resting_box(project_box(c, extent), extent, 0.0, K, EXTRINSICS.matrix, c[:2] + 0.05)
        assert np.abs(fit - c).max() < 1e-5, (centre, fit)


def test_localiser_puts_the_bin_at_its_box_centre_not_its_floor() -> None:
    centre, extent = np.array([0.55, -0.45, 0.05]), np.array([0.3, 0.3, 0.1])
    box = project_box(centre, extent)
    depth = np.full((480, 640), 1.6, dtype=np.float32)  # the floor seen through the open top
    localiser = Localiser(LocaliserConfig(), K, EXTRINSICS)
    obj = localiser.localise([Detection(3, "bin", 0.9, box)], depth).objects[0]
    assert np.abs(np.array(obj.position_m) - centre).max() < 1e-4


def test_a_cube_is_never_placed_below_the_table() -> None:
    # Depth of the table around a finger-occluded cube: the face point lies on the table (z ≈ 0).
    centre, size = np.array([0.6, 0.1, 0.025]), 0.05
    box = project_box(centre, np.full(3, size))
    T_ct = np.linalg.inv(EXTRINSICS.matrix)
    table_point_cam = T_ct[:3, :3] @ np.array([0.6, 0.1, -0.02]) + T_ct[:3, 3]
    depth = np.full((480, 640), table_point_cam[2], dtype=np.float32)
    cfg = LocaliserConfig()
    obj = Localiser(cfg, K, EXTRINSICS).localise([Detection(0, "red_cube", 0.9, box)], depth).objects[0]
    assert obj.position_m[2] == cfg.support_plane_z_m + size / 2


def test_no_fit_when_the_plane_is_seen_edge_on() -> None:
    """Camera frame as the target frame: the plane z = 0 holds the optical centre — no fit, no crash."""
    extent = np.array([0.3, 0.3, 0.1])
    assert fit_resting_box((300.0, 200.0, 420.0, 300.0), extent, 0.0, K, np.eye(4), np.zeros(2)) is None
