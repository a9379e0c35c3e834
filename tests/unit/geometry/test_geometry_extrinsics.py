"""Extrinsics: the YAML formats, config/extrinsics/sim.yaml against the sim, and every error message."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import transforms3d.euler as te
import yaml

from visuomotor.errors import ConfigError
from visuomotor.geometry import Extrinsics, extrinsics_from_dict, load_extrinsics
from visuomotor.sim import SimConfig, SimWorld

SIM_EXTRINSICS = Path(__file__).resolve().parents[3] / "config" / "extrinsics" / "sim.yaml"


def _pose(rng: np.random.Generator) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = te.euler2mat(*rng.uniform(-math.pi, math.pi, 3))
    T[:3, 3] = rng.uniform(-2.0, 2.0, 3)
    return T


def _doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "parent_frame": "base_link",
        "child_frame": "camera_color_optical_frame",
        "translation_m": [0.1, 0.2, 0.3],
        "quaternion_wxyz": [1.0, 0.0, 0.0, 0.0],
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def _write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "cam.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_sim_yaml_is_the_sim_camera_in_base_link() -> None:
    ext = load_extrinsics(SIM_EXTRINSICS)
    assert (ext.parent_frame, ext.child_frame) == ("base_link", "camera_color_optical_frame")
    np.testing.assert_allclose(ext.matrix, SimWorld(SimConfig()).T_base_link_camera, atol=1e-12)


def test_quaternion_orders_and_matrix_give_the_same_transform(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        T = _pose(rng)
        ref = Extrinsics("base_link", "cam", T)
        np.testing.assert_allclose(ref.matrix, T, atol=1e-12)
        q = ref.quaternion_wxyz
        forms = [
            _doc(translation_m=T[:3, 3].tolist(), quaternion_wxyz=q.tolist()),
            _doc(
                translation_m=T[:3, 3].tolist(), quaternion_wxyz=None, quaternion_xyzw=np.roll(q, -1).tolist()
            ),
            _doc(translation_m=None, quaternion_wxyz=None, matrix=T.tolist()),
            _doc(translation_m=T[:3, 3].tolist(), quaternion_wxyz=(-q).tolist()),  # q and −q: one rotation
        ]
        for doc in forms:
            np.testing.assert_allclose(extrinsics_from_dict(doc).matrix, T, atol=1e-12)
        np.testing.assert_allclose(load_extrinsics(_write(tmp_path, ref.to_dict())).matrix, T, atol=1e-12)


def test_points_inverse_and_constructors() -> None:
    rng = np.random.default_rng(4)
    T = _pose(rng)
    ext = Extrinsics("base_link", "cam", T)
    p = rng.normal(size=(5, 3))
    np.testing.assert_allclose(ext.transform_points(p), p @ T[:3, :3].T + T[:3, 3], atol=1e-12)
    np.testing.assert_allclose(ext.transform_points(p[0]), T[:3, :3] @ p[0] + T[:3, 3], atol=1e-12)
    inv = ext.inverse()
    assert (inv.parent_frame, inv.child_frame) == ("cam", "base_link")
    np.testing.assert_allclose(inv.transform_points(ext.transform_points(p)), p, atol=1e-12)
    again = Extrinsics.from_translation_quaternion(T[:3, 3], ext.quaternion_wxyz, "base_link", "cam")
    np.testing.assert_allclose(again.matrix, T, atol=1e-12)
    with pytest.raises(ValueError, match="read-only"):
        ext.matrix[0, 0] = 2.0


def test_slightly_rounded_inputs_are_accepted_and_made_exact() -> None:
    T = np.eye(4)
    T[:3, :3] = np.round(te.euler2mat(0.3, -0.2, 1.0), 7)  # a matrix written with 7 decimals
    R = extrinsics_from_dict(_doc(translation_m=None, quaternion_wxyz=None, matrix=T.tolist())).rotation
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-14)
    q = np.round([0.2556924, -0.6592582, -0.6592582, 0.2556924], 7)  # norm 1 − 1e-8
    ext = extrinsics_from_dict(_doc(quaternion_wxyz=q.tolist()))
    assert np.linalg.norm(ext.quaternion_wxyz) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        (["not", "a", "mapping"], r"expected a mapping with keys parent_frame"),
        (_doc(rotation=[1, 0, 0, 0]), r"unknown key\(s\) rotation; known keys: parent_frame"),
        (_doc(parent_frame=""), r"parent_frame must be a non-empty frame name"),
        (_doc(child_frame=None), r"child_frame must be a non-empty frame name, got None"),
        (
            _doc(quaternion_wxyz=None),
            r"give exactly one of quaternion_wxyz, quaternion_xyzw or matrix, got none",
        ),
        (
            _doc(quaternion_xyzw=[0, 0, 0, 1]),
            r"exactly one of .* got \['quaternion_wxyz', 'quaternion_xyzw'\]",
        ),
        (_doc(translation_m=None), r"translation_m \[x, y, z\] \(metres\) is missing"),
        (_doc(translation_m=[1, 2]), r"translation_m must be 3 finite numbers, got \[1, 2\]"),
        (_doc(translation_m=[1, 2, float("nan")]), r"translation_m must be 3 finite numbers"),
        (_doc(translation_m="1 2 3"), r"translation_m must be 3 (finite )?numbers"),
        (_doc(quaternion_wxyz=[1, 0, 0]), r"quaternion_wxyz must be 4 finite numbers"),
        (
            _doc(quaternion_wxyz=[1, 1, 0, 0]),
            r"quaternion_wxyz must be a unit quaternion, its norm is 1\.414214",
        ),
        (
            _doc(quaternion_wxyz=None, quaternion_xyzw=[0, 0, 0, 0.9]),
            r"quaternion_xyzw must be a unit quaternion",
        ),
        (
            _doc(translation_m=None, quaternion_wxyz=None, matrix=np.eye(3).tolist()),
            r"matrix must be a finite 4×4",
        ),
        (
            _doc(translation_m=None, quaternion_wxyz=None, matrix=[["a"] * 4] * 4),
            r"matrix must be a 4×4 matrix of",
        ),
        (
            _doc(translation_m=None, quaternion_wxyz=None, matrix=np.diag([2.0, 1, 1, 1]).tolist()),
            r"matrix rotation block is not orthonormal with det \+1 \(max \|RᵀR − I\| = 3\.00e\+00",
        ),
        (
            _doc(translation_m=None, quaternion_wxyz=None, matrix=np.diag([-1.0, 1, 1, 1]).tolist()),
            r"not orthonormal with det \+1 .*det = -1\.000000\); write a rotation, not a scaled or mirrored",
        ),
        (
            _doc(
                translation_m=None,
                quaternion_wxyz=None,
                matrix=[[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]],
            ),
            r"matrix last row must be \[0, 0, 0, 1\]",
        ),
        (
            _doc(quaternion_wxyz=None, matrix=np.eye(4).tolist()),
            r"translation_m must not be given with matrix",
        ),
    ],
)
def test_bad_files_name_the_key_and_the_file(tmp_path: Path, doc: Any, match: str) -> None:
    path = _write(tmp_path, doc)
    with pytest.raises(ConfigError, match=match) as info:
        load_extrinsics(path)
    assert f"extrinsics {path}:" in str(info.value)


def test_unreadable_files_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(
        ConfigError, match=r"cannot read the extrinsics file '.*nope\.yaml'.*config/extrinsics/"
    ):
        load_extrinsics(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("parent_frame: [base_link\n")
    with pytest.raises(ConfigError, match=r"extrinsics file '.*broken\.yaml' is not valid YAML"):
        load_extrinsics(broken)


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(ConfigError, match=r"extrinsics Extrinsics: matrix rotation block is not orthonormal"):
        Extrinsics("a", "b", np.diag([1.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ConfigError, match=r"extrinsics: child_frame must be a non-empty frame name"):
        Extrinsics("a", "", np.eye(4))
    with pytest.raises(
        ConfigError, match=r"extrinsics Extrinsics: quaternion_wxyz must be a unit quaternion"
    ):
        Extrinsics.from_translation_quaternion([0, 0, 0], [2, 0, 0, 0], "a", "b")
