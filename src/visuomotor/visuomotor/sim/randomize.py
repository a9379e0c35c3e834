"""Domain randomisation of a :class:`~visuomotor.sim.SimWorld` between renders (detector training data).

What changes, per frame, after ``world.reset(seed)`` has placed the cubes (and jittered their colours
within class when ``scene.cube_color_jitter`` > 0):

- lighting: direction, diffuse and ambient of the ``sun`` light and of the headlight;
- table: colour, and one of the table materials (plain, checker, gradient, random marks);
- distractors: the scene's visual-only mocap bodies (``scene.num_distractors``) get a random shape, size,
  colour that is none of our classes, and a place on the table clear of the cubes and the bin;
- camera: a small rotation and translation of the camera about its configured pose; the returned
  ``T_base_link_camera`` is the jittered optical pose that labels must be projected with;
- arm: home, a random pose near home, or the tool hovering over a random cube (IK), which occludes cubes
  the way the gripper does during a pick.

Everything is written into ``world.model`` / ``world.data`` and nothing is stepped: call
:meth:`DomainRandomizer.apply` right before rendering. The nominal values are remembered at construction
and every call starts from them, so randomisations never accumulate. :meth:`DomainRandomizer.restore`
puts the nominal model back (the world is then as a plain ``reset`` leaves it, cubes aside).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from visuomotor.errors import ConfigError, KinematicsError
from visuomotor.kinematics import UR10E_JOINT_LIMITS_RAD, Ur10eKinematics
from visuomotor.sim.camera import R_MUJOCO_OPTICAL
from visuomotor.sim.scene import (
    BIN_NAME,
    CAMERA_NAME,
    DISTRACTOR_PARK_M,
    DISTRACTOR_PREFIX,
    TABLE_MATERIALS,
)
from visuomotor.sim.world import SimWorld, top_down_tcp_pose

__all__ = ["DISTRACTOR_COLORS", "DomainRandomizer", "RandomizationConfig", "rotation_about"]

#: Distractor colours (RGB): none is red, green or blue, so a cube class stays "a cube of that colour".
DISTRACTOR_COLORS: tuple[tuple[float, float, float], ...] = (
    (0.95, 0.85, 0.10),  # yellow
    (0.70, 0.20, 0.75),  # purple
    (0.92, 0.92, 0.92),  # white
    (0.08, 0.08, 0.08),  # black
    (0.50, 0.50, 0.50),  # grey
    (0.55, 0.35, 0.15),  # brown
    (0.95, 0.55, 0.70),  # pink
    (0.10, 0.75, 0.75),  # teal
)

_SHAPES = (
    mujoco.mjtGeom.mjGEOM_BOX,
    mujoco.mjtGeom.mjGEOM_SPHERE,
    mujoco.mjtGeom.mjGEOM_CYLINDER,
    mujoco.mjtGeom.mjGEOM_CAPSULE,
    mujoco.mjtGeom.mjGEOM_ELLIPSOID,
)


@dataclass(frozen=True, slots=True)
class RandomizationConfig:
    """Ranges of the per-frame randomisation (all uniform).

    Attributes:
        light_diffuse: [min, max] grey level of the sun's diffuse colour.
        light_ambient: [min, max] grey level of the sun's ambient colour.
        headlight_diffuse: [min, max] grey level of the headlight's diffuse colour.
        headlight_ambient: [min, max] grey level of the headlight's ambient colour.
        light_tilt_deg: maximum angle of the sun direction from straight down.
        table_rgb_jitter: ± per RGB channel on the table colour.
        textured_table_probability: chance of a textured table material instead of the plain one.
        distractor_probability: chance that each distractor is placed (else it stays parked).
        distractor_size_m: [min, max] half-size of a distractor.
        distractor_clearance_m: minimum distance between a distractor's centre and a cube's centre.
        camera_translation_m: ± jitter of the camera position along each base_link axis.
        camera_rotation_deg: maximum angle of the random camera rotation (random axis).
        arm_home_probability: chance the arm stays at home.
        arm_hover_probability: chance the tool hovers over a random cube (the rest: random pose near home).
        arm_hover_height_m: [min, max] height of the TCP above the cube's top face when hovering.
        arm_joint_jitter_rad: ± per joint around home for the random pose.
    """

    light_diffuse: tuple[float, float] = (0.2, 0.8)
    light_ambient: tuple[float, float] = (0.0, 0.25)
    headlight_diffuse: tuple[float, float] = (0.2, 0.6)
    headlight_ambient: tuple[float, float] = (0.15, 0.5)
    light_tilt_deg: float = 40.0
    table_rgb_jitter: float = 0.15
    textured_table_probability: float = 0.5
    distractor_probability: float = 0.7
    distractor_size_m: tuple[float, float] = (0.012, 0.04)
    distractor_clearance_m: float = 0.08
    camera_translation_m: float = 0.02
    camera_rotation_deg: float = 2.0
    arm_home_probability: float = 0.2
    arm_hover_probability: float = 0.5
    arm_hover_height_m: tuple[float, float] = (0.0, 0.3)
    arm_joint_jitter_rad: float = 0.5

    def __post_init__(self) -> None:
        for key in (
            "light_diffuse",
            "light_ambient",
            "headlight_diffuse",
            "headlight_ambient",
            "distractor_size_m",
            "arm_hover_height_m",
        ):
            lo, hi = getattr(self, key)
            if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= hi):
                raise ConfigError(
                    f"randomization.{key} must be [min, max] with 0 ≤ min ≤ max, got {[lo, hi]}"
                )
        for key in ("textured_table_probability", "distractor_probability", "arm_home_probability"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"randomization.{key} must be in [0, 1], got {value}")
        if not 0.0 <= self.arm_hover_probability <= 1.0 - self.arm_home_probability:
            raise ConfigError(
                "randomization.arm_hover_probability must be in [0, 1 - arm_home_probability], got "
                f"{self.arm_hover_probability} with arm_home_probability {self.arm_home_probability}"
            )
        for key in (
            "light_tilt_deg",
            "table_rgb_jitter",
            "distractor_clearance_m",
            "camera_translation_m",
            "camera_rotation_deg",
            "arm_joint_jitter_rad",
        ):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0.0):
                raise ConfigError(f"randomization.{key} must be ≥ 0, got {value}")
        if self.distractor_size_m[0] <= 0.0:
            raise ConfigError("randomization.distractor_size_m must be > 0")


def rotation_about(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """(3, 3) rotation by ``angle_rad`` about the unit ``axis`` (Rodrigues)."""
    k = np.asarray(axis, dtype=np.float64)
    k = k / np.linalg.norm(k)
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(angle_rad) * kx + (1.0 - math.cos(angle_rad)) * (kx @ kx)


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


class DomainRandomizer:
    """Applies :class:`RandomizationConfig` to one world; remembers the nominal model to start from.

    Args:
        world: the world to randomise (its scene may have ``num_distractors`` > 0 for distractors).
        config: ranges; defaults when None.
    """

    def __init__(self, world: SimWorld, config: RandomizationConfig | None = None) -> None:
        self.world = world
        self.config = config if config is not None else RandomizationConfig()
        m = world.model
        obj = mujoco.mjtObj
        self._cam = mujoco.mj_name2id(m, obj.mjOBJ_CAMERA, CAMERA_NAME)
        self._sun = mujoco.mj_name2id(m, obj.mjOBJ_LIGHT, "sun")
        self._table = mujoco.mj_name2id(m, obj.mjOBJ_GEOM, "table")
        self._materials = [mujoco.mj_name2id(m, obj.mjOBJ_MATERIAL, n) for n in TABLE_MATERIALS]
        if min(self._cam, self._sun, self._table, *self._materials) < 0:
            raise ConfigError("the world's model lacks the camera, sun light, table or table materials")
        self._bin_body = mujoco.mj_name2id(m, obj.mjOBJ_BODY, BIN_NAME)
        self._distractor_geoms: list[int] = []
        self._distractor_mocap: list[int] = []
        for i in range(world.config.scene.num_distractors):
            body = mujoco.mj_name2id(m, obj.mjOBJ_BODY, f"{DISTRACTOR_PREFIX}{i}")
            self._distractor_geoms.append(mujoco.mj_name2id(m, obj.mjOBJ_GEOM, f"{DISTRACTOR_PREFIX}{i}"))
            self._distractor_mocap.append(int(m.body_mocapid[body]))
        self._kinematics = Ur10eKinematics(T_flange_tcp=world.T_flange_tcp)
        self._nominal = {
            "cam_pos": m.cam_pos[self._cam].copy(),
            "cam_quat": m.cam_quat[self._cam].copy(),
            "light_dir": m.light_dir[self._sun].copy(),
            "light_diffuse": m.light_diffuse[self._sun].copy(),
            "light_ambient": m.light_ambient[self._sun].copy(),
            "head_diffuse": np.array(m.vis.headlight.diffuse, dtype=np.float64),
            "head_ambient": np.array(m.vis.headlight.ambient, dtype=np.float64),
            "table_matid": int(m.geom_matid[self._table]),
            "mat_rgba": m.mat_rgba[self._materials].copy(),
        }

    def restore(self) -> None:
        """Put back the nominal camera, lights, table and park the distractors (arm and cubes untouched)."""
        m, d, n = self.world.model, self.world.data, self._nominal
        m.cam_pos[self._cam] = n["cam_pos"]
        m.cam_quat[self._cam] = n["cam_quat"]
        m.light_dir[self._sun] = n["light_dir"]
        m.light_diffuse[self._sun] = n["light_diffuse"]
        m.light_ambient[self._sun] = n["light_ambient"]
        m.vis.headlight.diffuse[:] = n["head_diffuse"]
        m.vis.headlight.ambient[:] = n["head_ambient"]
        m.geom_matid[self._table] = n["table_matid"]
        m.mat_rgba[self._materials] = n["mat_rgba"]
        for mocap in self._distractor_mocap:
            d.mocap_pos[mocap] = DISTRACTOR_PARK_M
        mujoco.mj_forward(m, d)

    def apply(self, rng: np.random.Generator) -> np.ndarray:
        """Randomise lights, table, distractors, camera and arm; update the kinematics.

        Args:
            rng: the random source (seed it per frame for reproducible datasets).

        Returns:
            (4, 4) T_base_link_camera of the jittered camera's OPTICAL frame (x right, y down, z forward).
        """
        self.restore()
        self._lights(rng)
        self._table_look(rng)
        self._distractors(rng)
        self._camera(rng)
        self._arm(rng)  # teleport_arm runs mj_forward, which also moves the camera and the mocap bodies
        return self.camera_pose()

    def camera_pose(self) -> np.ndarray:
        """(4, 4) T_base_link_camera (optical frame) of the camera as the model stands now."""
        d = self.world.data
        T = np.eye(4)
        T[:3, :3] = d.cam_xmat[self._cam].reshape(3, 3) @ R_MUJOCO_OPTICAL
        T[:3, 3] = d.cam_xpos[self._cam]
        return T

    # ------------------------------------------------------------------ the pieces

    def _lights(self, rng: np.random.Generator) -> None:
        m, c = self.world.model, self.config
        tilt = math.radians(rng.uniform(0.0, c.light_tilt_deg))
        azimuth = rng.uniform(-math.pi, math.pi)
        m.light_dir[self._sun] = (
            math.sin(tilt) * math.cos(azimuth),
            math.sin(tilt) * math.sin(azimuth),
            -math.cos(tilt),
        )
        m.light_diffuse[self._sun] = _uniform(rng, c.light_diffuse)
        m.light_ambient[self._sun] = _uniform(rng, c.light_ambient)
        m.vis.headlight.diffuse[:] = _uniform(rng, c.headlight_diffuse)
        m.vis.headlight.ambient[:] = _uniform(rng, c.headlight_ambient)

    def _table_look(self, rng: np.random.Generator) -> None:
        m, c = self.world.model, self.config
        if rng.random() < c.textured_table_probability:
            mat = self._materials[int(rng.integers(1, len(self._materials)))]
        else:
            mat = self._materials[0]
        m.geom_matid[self._table] = mat
        base = m.mat_rgba[mat, :3]
        m.mat_rgba[mat, :3] = np.clip(
            base + rng.uniform(-c.table_rgb_jitter, c.table_rgb_jitter, 3), 0.05, 1.0
        )

    def _distractors(self, rng: np.random.Generator) -> None:
        w, c = self.world, self.config
        m, d, scene = w.model, w.data, w.config.scene
        cubes = np.array([o.position_m[:2] for o in w.objects() if o.name != BIN_NAME])
        bin_xy = np.asarray(scene.bin_center_xy_m)
        bin_half = np.asarray(scene.bin_size_m[:2]) / 2
        placed: list[np.ndarray] = []
        for geom, mocap in zip(self._distractor_geoms, self._distractor_mocap, strict=True):
            if rng.random() >= c.distractor_probability:
                continue
            shape = _SHAPES[int(rng.integers(len(_SHAPES)))]
            size = np.array([_uniform(rng, c.distractor_size_m) for _ in range(3)])
            m.geom_type[geom] = shape
            m.geom_size[geom] = size
            m.geom_rgba[geom, :3] = np.clip(
                np.asarray(DISTRACTOR_COLORS[int(rng.integers(len(DISTRACTOR_COLORS)))])
                + rng.uniform(-0.05, 0.05, 3),
                0.0,
                1.0,
            )
            # Resting height of the shape on the table (capsules/cylinders stand upright).
            if shape == mujoco.mjtGeom.mjGEOM_SPHERE:
                half_height = size[0]
            elif shape == mujoco.mjtGeom.mjGEOM_CAPSULE:
                half_height = size[0] + size[1]
            elif shape == mujoco.mjtGeom.mjGEOM_CYLINDER:
                half_height = size[1]
            else:
                half_height = size[2]
            for _ in range(50):
                xy = np.array([rng.uniform(0.25, 1.05), rng.uniform(-0.65, 0.65)])
                if len(cubes) and np.min(np.linalg.norm(cubes - xy, axis=1)) < c.distractor_clearance_m:
                    continue
                if (np.abs(xy - bin_xy) < bin_half + 0.05).all():
                    continue
                if any(np.linalg.norm(xy - p) < 0.06 for p in placed):
                    continue
                placed.append(xy)
                d.mocap_pos[mocap] = (xy[0], xy[1], half_height)
                yaw = rng.uniform(-math.pi, math.pi)
                d.mocap_quat[mocap] = (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))
                break

    def _camera(self, rng: np.random.Generator) -> None:
        m, c, n = self.world.model, self.config, self._nominal
        m.cam_pos[self._cam] = n["cam_pos"] + rng.uniform(-c.camera_translation_m, c.camera_translation_m, 3)
        axis = rng.normal(size=3)
        angle = math.radians(rng.uniform(0.0, c.camera_rotation_deg))
        R0 = np.zeros(9)
        mujoco.mju_quat2Mat(R0, n["cam_quat"])
        # The camera has no parent body rotation (worldbody), so cam_quat is its world orientation.
        R = rotation_about(axis, angle) @ R0.reshape(3, 3)
        q = np.zeros(4)
        mujoco.mju_mat2Quat(q, R.ravel())
        m.cam_quat[self._cam] = q

    def _arm(self, rng: np.random.Generator) -> None:
        w, c = self.world, self.config
        home = np.asarray(w.config.scene.home_q_rad, dtype=np.float64)
        u = rng.random()
        q = home
        if u >= c.arm_home_probability + c.arm_hover_probability:
            lim = np.asarray(UR10E_JOINT_LIMITS_RAD, dtype=np.float64)
            q = np.clip(
                home + rng.uniform(-c.arm_joint_jitter_rad, c.arm_joint_jitter_rad, 6), lim[:, 0], lim[:, 1]
            )
        elif u >= c.arm_home_probability:
            cubes = [o for o in w.objects() if o.name != BIN_NAME]
            target = cubes[int(rng.integers(len(cubes)))]
            p = np.array(target.position_m, dtype=np.float64)
            p[2] += target.size_m / 2 + _uniform(rng, c.arm_hover_height_m)
            p[:2] += rng.uniform(-0.03, 0.03, 2)
            T = top_down_tcp_pose(p, float(rng.uniform(-math.pi, math.pi)))
            try:
                q = self._kinematics.nearest(T, home)
            except KinematicsError:  # out of reach for this yaw: stay at home
                q = home
        w.teleport_arm(q)
