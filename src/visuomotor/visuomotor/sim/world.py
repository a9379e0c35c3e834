"""``SimWorld``: the MuJoCo UR10e pick scene behind a small, ROS-free API.

All poses are in ``base_link`` (= the MuJoCo world frame); joint arrays are in ``UR10E_JOINT_NAMES``
order. The arm is driven like the UR driver's controllers: either a held position target
(``set_arm_targets``, the forward_position_controller) or a joint trajectory (``follow_trajectory``,
the joint_trajectory_controller), sampled from sim time every physics step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import TracebackType

import mujoco
import numpy as np

from visuomotor.errors import SimError
from visuomotor.geometry import CameraIntrinsics
from visuomotor.kinematics import T_FLANGE_TCP, UR10E_JOINT_LIMITS_RAD, UR10E_JOINT_NAMES, Ur10eKinematics
from visuomotor.sim.camera import (
    R_MUJOCO_OPTICAL,
    RgbdFrame,
    RgbdRenderer,
    camera_intrinsics,
    make_depth_image,
)
from visuomotor.sim.config import SimConfig
from visuomotor.sim.errors import GripperCommandError
from visuomotor.sim.jtc import JointTrajectoryCommand, JointTrajectoryFollower
from visuomotor.sim.scene import (
    BIN_NAME,
    CAMERA_NAME,
    CONVEYOR_NAME,
    CONVEYOR_TOP_M,
    FINGER_JOINTS,
    FLANGE_SITE,
    GRIPPER_ACTUATOR,
    GRIPPER_STROKE_M,
    TCP_SITE,
    build_mjcf,
    cube_specs,
)

__all__ = ["GripperCommandError", "ObjectState", "SimWorld", "top_down_tcp_pose"]

#: Placement attempts per cube before reset() gives up (the default workspace needs a handful).
_MAX_PLACEMENT_TRIES = 500
#: Cubes keep this many pixels between their projected centre and the image border.
_VIEW_MARGIN_PX = 20.0
#: Height of the approach pose above a cube that must also be reachable for a placement to count.
_APPROACH_HEIGHT_M = 0.15
#: Contact roles of geoms (``SimWorld._geom_role``) for the conveyor.
_GRIPPER, _BELT = 1, 2


@dataclass(frozen=True, slots=True)
class ObjectState:
    """Ground truth of one object (cube or bin).

    Attributes:
        name: unique name, e.g. ``red_cube_0`` or ``bin``.
        class_name: detector class: ``red_cube``, ``green_cube``, ``blue_cube`` or ``bin``.
        size_m: cube edge; for the bin its outer width (x extent).
        extent_m: (3,) full size along the object's own x, y, z axes, metres.
        position_m: (3,) centre of the object's bounding box in base_link, metres.
        quat_wxyz: (4,) orientation in base_link, unit quaternion (w, x, y, z).
    """

    name: str
    class_name: str
    size_m: float
    extent_m: np.ndarray
    position_m: np.ndarray
    quat_wxyz: np.ndarray


def _pose(xpos: np.ndarray, xmat: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = np.asarray(xmat).reshape(3, 3)
    T[:3, 3] = xpos
    return T


def _yaw_quat(yaw_rad: float) -> np.ndarray:
    return np.array([math.cos(yaw_rad / 2), 0.0, 0.0, math.sin(yaw_rad / 2)])


def top_down_tcp_pose(p_base_link: np.ndarray, yaw_rad: float) -> np.ndarray:
    """TCP pose pointing straight down at a point, fingers closing along the yaw direction.

    Args:
        p_base_link: (3,) TCP position in base_link, metres.
        yaw_rad: angle of the tool y axis (the closing direction) about base_link z.

    Returns:
        (4, 4) T_base_link_tcp with tool z = −z of base_link.
    """
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    T = np.eye(4)
    T[:3, 0] = (-s, c, 0.0)
    T[:3, 1] = (c, s, 0.0)
    T[:3, 2] = (0.0, 0.0, -1.0)
    T[:3, 3] = p_base_link
    return T


class SimWorld:
    """The simulated cell: UR10e + gripper, table, cubes, bin and an RGB-D camera.

    Args:
        config: simulator configuration (defaults when None).

    Raises:
        SimError: the model does not compile or the initial scene cannot be placed.
    """

    #: (4, 4) flange → TCP (between the pads); give it to ``Ur10eKinematics(T_flange_tcp=...)``.
    T_FLANGE_TCP: np.ndarray = T_FLANGE_TCP

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config if config is not None else SimConfig()
        try:
            self.model = mujoco.MjModel.from_xml_string(build_mjcf(self.config))
        except ValueError as err:
            raise SimError(f"the generated MJCF does not compile: {err}") from err
        self.data = mujoco.MjData(self.model)
        m, obj = self.model, mujoco.mjtObj
        joints = [_id(m, obj.mjOBJ_JOINT, n) for n in UR10E_JOINT_NAMES]
        self._arm_qpos = np.array([m.jnt_qposadr[j] for j in joints])
        self._arm_dof = np.array([m.jnt_dofadr[j] for j in joints])
        self._arm_act = np.array(
            [_id(m, obj.mjOBJ_ACTUATOR, n.removesuffix("_joint")) for n in UR10E_JOINT_NAMES]
        )
        self._finger_qpos = np.array([m.jnt_qposadr[_id(m, obj.mjOBJ_JOINT, n)] for n in FINGER_JOINTS])
        self._grip_act = _id(m, obj.mjOBJ_ACTUATOR, GRIPPER_ACTUATOR)
        self._flange_site = _id(m, obj.mjOBJ_SITE, FLANGE_SITE)
        self._tcp_site = _id(m, obj.mjOBJ_SITE, TCP_SITE)
        self._camera_id = _id(m, obj.mjOBJ_CAMERA, CAMERA_NAME)
        self._bin_body = _id(m, obj.mjOBJ_BODY, BIN_NAME)
        self._cubes = cube_specs(self.config.scene.num_cubes)
        self._cube_body = np.array([_id(m, obj.mjOBJ_BODY, c.name) for c in self._cubes])
        self._cube_geom = np.array([_id(m, obj.mjOBJ_GEOM, c.name) for c in self._cubes])
        self._cube_qpos = np.array([m.jnt_qposadr[m.body_jntadr[b]] for b in self._cube_body])
        self._cube_dof = np.array([m.jnt_dofadr[m.body_jntadr[b]] for b in self._cube_body])
        conveyor = self.config.conveyor
        self._belt_geom = _id(m, obj.mjOBJ_GEOM, CONVEYOR_NAME) if conveyor.enabled else -1
        self._belt_speed_m_s = conveyor.speed_m_s
        self._belt_cubes: tuple[int, ...] = ()
        # Contact roles per geom, for the belt: which cube a geom is (−1: none), and whether it belongs to
        # the gripper (body, finger bars, pads: a cube one of them touches is not carried) or is the belt.
        gripper_root = _id(m, obj.mjOBJ_BODY, "gripper")
        self._geom_cube = np.full(m.ngeom, -1, dtype=np.int64)
        self._geom_cube[self._cube_geom] = np.arange(len(self._cubes))
        self._geom_role = np.zeros(m.ngeom, dtype=np.int64)
        gripper_geoms = [g for g in range(m.ngeom) if _under(m, int(m.geom_bodyid[g]), gripper_root)]
        self._geom_role[gripper_geoms] = _GRIPPER
        if self._belt_geom >= 0:
            self._geom_role[self._belt_geom] = _BELT
        self._follower = JointTrajectoryFollower(UR10E_JOINT_NAMES, UR10E_JOINT_LIMITS_RAD)
        self._kinematics = Ur10eKinematics(T_flange_tcp=T_FLANGE_TCP)
        self._intrinsics = camera_intrinsics(self.config.camera)
        self._renderer: RgbdRenderer | None = None
        self._noise_rng = np.random.default_rng(self.config.seed)
        self._T_base_link_camera = np.eye(4)
        self.reset()

    # ------------------------------------------------------------------ lifecycle

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode: random cube poses, arm at home, gripper open, time 0.

        Cubes are placed uniformly in the configured workspace with a random yaw, at least
        ``scene.min_cube_separation_m`` apart, with a reachable top-down grasp and approach pose, and
        with their centre inside the image. The same seed gives an identical scene (and depth noise).

        Args:
            seed: scene seed (≥ 0); ``config.seed`` when None.

        Raises:
            ValueError: a negative seed.
            SimError: the cubes could not be placed (workspace too small or out of reach/view).
        """
        seed = self.config.seed if seed is None else int(seed)
        if seed < 0:
            raise ValueError(f"reset(seed) needs seed ≥ 0, got {seed}")
        rng = np.random.default_rng(seed)
        # A separate stream so rendering more or fewer frames never changes the next scene.
        self._noise_rng = np.random.default_rng([seed, 1])
        m, d, scene = self.model, self.data, self.config.scene
        mujoco.mj_resetData(m, d)
        home = np.asarray(scene.home_q_rad, dtype=np.float64)
        self._follower.hold(home)
        d.qpos[self._arm_qpos] = home
        d.ctrl[self._arm_act] = home
        d.qpos[self._finger_qpos] = 0.0
        d.ctrl[self._grip_act] = 0.0
        mujoco.mj_forward(m, d)  # camera pose for the in-view test below
        self._T_base_link_camera = self._camera_pose()
        half = scene.cube_size_m / 2
        placed: list[np.ndarray] = []
        on_belt = self._place_on_belt(rng)
        cubes = zip(self._cubes, self._cube_qpos, self._cube_geom, strict=True)
        for i, (spec, qadr, geom) in enumerate(cubes):
            if i in on_belt:
                xy, yaw = on_belt[i]
                z = CONVEYOR_TOP_M + half
            else:
                xy, yaw = self._sample_cube(rng, placed)
                z = half
            placed.append(xy)
            d.qpos[qadr : qadr + 3] = (xy[0], xy[1], z)
            d.qpos[qadr + 3 : qadr + 7] = _yaw_quat(yaw)
            jitter = rng.uniform(-scene.cube_color_jitter, scene.cube_color_jitter, 3)
            m.geom_rgba[geom, :3] = np.clip(np.asarray(spec.rgba[:3]) + jitter, 0.0, 1.0)
        mujoco.mj_forward(m, d)

    def _place_on_belt(self, rng: np.random.Generator) -> dict[int, tuple[np.ndarray, float]]:
        """Cube index → (xy, yaw) of the cubes that start on the belt ({} without a conveyor).

        Which cubes ride is a seeded random choice; the leading one (most downstream) comes first in
        :meth:`conveyor_cube_indices`.
        """
        c = self.config.conveyor
        if not c.enabled:
            self._belt_cubes = ()
            return {}
        order = [int(i) for i in rng.permutation(len(self._cubes))[: c.cubes]]
        lead_y = float(rng.uniform(*c.spawn_y_m))
        out = {}
        for k, i in enumerate(order):
            x = c.center_x_m + float(rng.uniform(-c.x_jitter_m, c.x_jitter_m))
            out[i] = (np.array([x, lead_y - k * c.spacing_m]), float(rng.uniform(-math.pi, math.pi)))
        self._belt_cubes = tuple(order)
        return out

    def _sample_cube(self, rng: np.random.Generator, placed: list[np.ndarray]) -> tuple[np.ndarray, float]:
        scene = self.config.scene
        conveyor = self.config.conveyor
        # Table cubes keep clear of the belt (its half width + most of a cube).
        belt_clearance = conveyor.width_m / 2 + 0.75 * scene.cube_size_m
        bin_xy = np.asarray(scene.bin_center_xy_m)
        bin_half = np.asarray(scene.bin_size_m[:2]) / 2 + scene.cube_size_m
        for _ in range(_MAX_PLACEMENT_TRIES):
            xy = np.array([rng.uniform(*scene.workspace_x_m), rng.uniform(*scene.workspace_y_m)])
            yaw = float(rng.uniform(-math.pi, math.pi))
            if any(np.linalg.norm(xy - p) < scene.min_cube_separation_m for p in placed):
                continue
            if (np.abs(xy - bin_xy) < bin_half).all():
                continue
            if conveyor.enabled and abs(xy[0] - conveyor.center_x_m) < belt_clearance:
                continue
            if not self._in_view(np.array([xy[0], xy[1], scene.cube_size_m / 2])):
                continue
            if not self._graspable(xy, yaw):
                continue
            return xy, yaw
        raise SimError(
            f"could not place {scene.num_cubes} cubes {scene.min_cube_separation_m} m apart, reachable and "
            f"in view inside scene.workspace_x_m={list(scene.workspace_x_m)}, "
            f"scene.workspace_y_m={list(scene.workspace_y_m)}; enlarge the workspace or use fewer cubes"
        )

    def _in_view(self, p_base_link: np.ndarray) -> bool:
        T = self._T_base_link_camera
        p_cam = T[:3, :3].T @ (p_base_link - T[:3, 3])
        if p_cam[2] <= self.config.camera.min_range_m:
            return False
        u, v = self._intrinsics.project(p_cam)
        k = self._intrinsics
        return bool(
            _VIEW_MARGIN_PX <= u <= k.width_px - 1 - _VIEW_MARGIN_PX
            and _VIEW_MARGIN_PX <= v <= k.height_px - 1 - _VIEW_MARGIN_PX
        )

    def _graspable(self, xy: np.ndarray, yaw: float) -> bool:
        z = self.config.scene.cube_size_m / 2
        for height in (0.0, _APPROACH_HEIGHT_M):
            T = top_down_tcp_pose(np.array([xy[0], xy[1], z + height]), yaw)
            if self._kinematics.inverse(T).shape[0] == 0:
                return False
        return True

    def close(self) -> None:
        """Free the renderer's OpenGL context (the world stays usable; render() makes a new one)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> SimWorld:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ stepping and commands

    @property
    def time_s(self) -> float:
        """Sim time since reset, seconds."""
        return float(self.data.time)

    def step(self, n: int = 1) -> None:
        """Advance the physics by ``n`` steps of ``config.timestep_s``.

        While a trajectory is active its sample at the current sim time becomes the arm target before
        every step; otherwise the held target is used and the steps run in one MuJoCo call.

        Raises:
            ValueError: ``n`` < 0.
            SimError: the physics diverged (NaN state); reset() to recover.
        """
        if n < 0:
            raise ValueError(f"step(n) needs n ≥ 0, got {n}")
        m, d, act = self.model, self.data, self._arm_act
        remaining = int(n)
        while remaining > 0:
            d.ctrl[act] = self._follower.sample(d.time)[0]
            if self._belt_geom >= 0 and self._belt_speed_m_s > 0.0:  # the belt acts every step
                self._carry_on_belt()
                mujoco.mj_step(m, d)
                remaining -= 1
            elif self._follower.is_active(d.time):
                mujoco.mj_step(m, d)
                remaining -= 1
            else:  # holding: one C call for all remaining steps
                mujoco.mj_step(m, d, remaining)
                remaining = 0
        if not np.isfinite(d.qpos).all():
            raise SimError(f"physics diverged at t = {d.time:.3f} s (NaN state); call reset()")

    def _carry_on_belt(self) -> None:
        """Give the belt's velocity to every cube that lies on the belt and that no finger touches.

        Contacts are those of the last step (what the cube rests on now). Setting the velocity, not a
        force, is the usual kinematic conveyor: the cube moves at exactly the belt speed, and a cube the
        gripper holds or lifts is left to the physics.
        """
        d = self.data
        if d.ncon == 0:
            return
        pairs = d.contact.geom[: d.ncon]  # (ncon, 2) geom ids
        cube_a = self._geom_cube[pairs[:, 0]]
        cube = np.where(cube_a >= 0, cube_a, self._geom_cube[pairs[:, 1]])  # the cube in each contact
        other = np.where(cube_a >= 0, self._geom_role[pairs[:, 1]], self._geom_role[pairs[:, 0]])
        n = len(self._cubes)
        on_belt = np.bincount(cube[(cube >= 0) & (other == _BELT)], minlength=n)
        touched = np.bincount(cube[(cube >= 0) & (other == _GRIPPER)], minlength=n)
        for k in np.flatnonzero((on_belt > 0) & (touched == 0)):
            dof = self._cube_dof[k]
            d.qvel[dof : dof + 6] = (0.0, self._belt_speed_m_s, 0.0, 0.0, 0.0, 0.0)

    # ------------------------------------------------------------------ conveyor

    @property
    def conveyor_speed_m_s(self) -> float:
        """Current belt speed along +y, m/s (0 without a conveyor)."""
        return self._belt_speed_m_s if self._belt_geom >= 0 else 0.0

    def set_conveyor_speed(self, speed_m_s: float) -> None:
        """Change the belt speed (e.g. per recorded demo); the scene keeps its belt.

        Raises:
            SimError: the world was built without a conveyor (``conveyor.speed_m_s`` = 0).
            ValueError: a speed outside [0, 0.5] m/s.
        """
        if self._belt_geom < 0:
            raise SimError("this world has no conveyor: build it with conveyor.speed_m_s > 0")
        value = float(speed_m_s)
        if not (math.isfinite(value) and 0.0 <= value <= 0.5):
            raise ValueError(f"conveyor speed must be in [0, 0.5] m/s, got {speed_m_s}")
        self._belt_speed_m_s = value

    def conveyor_cube_indices(self) -> tuple[int, ...]:
        """Indices (into :meth:`objects`) of the cubes that started on the belt, leading cube first."""
        return self._belt_cubes

    def cube_velocities(self) -> np.ndarray:
        """(num_cubes, 3) linear velocity of every cube's centre in base_link, m/s."""
        return np.stack([self.data.qvel[dof : dof + 3] for dof in self._cube_dof]).copy()

    def set_arm_targets(self, q_rad: np.ndarray) -> None:
        """Hold the arm at joint targets (like ``forward_position_controller``); cancels a trajectory.

        Args:
            q_rad: (6,) joint positions, radians, UR10E_JOINT_NAMES order.

        Raises:
            TrajectoryRejected: wrong shape, NaN/inf or outside the joint limits; the arm keeps its
                previous command.
        """
        self._follower.hold(q_rad)
        self.data.ctrl[self._arm_act] = self._follower.sample(self.data.time)[0]

    def teleport_arm(self, q_rad: np.ndarray) -> None:
        """Put the arm at ``q_rad`` (6,) at rest, hold it there and update the kinematics (no physics).

        For test set-ups and data generation (random arm poses); cancels any trajectory.

        Raises:
            TrajectoryRejected: wrong shape, NaN/inf or outside the joint limits.
        """
        self.set_arm_targets(q_rad)
        self.data.qpos[self._arm_qpos] = self.data.ctrl[self._arm_act]
        self.data.qvel[self._arm_dof] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def follow_trajectory(self, traj: JointTrajectoryCommand) -> None:
        """Replace the active command with a joint trajectory that starts now (sim time).

        Raises:
            TrajectoryRejected: the trajectory is invalid for this arm (names, limits); the arm keeps
                its previous command.
        """
        self._follower.start(traj, self.data.time)

    def trajectory_active(self) -> bool:
        """True while a trajectory is still moving the arm target."""
        return self._follower.is_active(self.data.time)

    def arm_command(self) -> np.ndarray:
        """(6,) current arm position target, radians."""
        return self._follower.sample(self.data.time)[0]

    def set_gripper(self, closure: float) -> None:
        """Command the gripper: 0 = open (85 mm), 1 = closed; grip force is capped at ≈ 20 N per pad.

        Raises:
            GripperCommandError: not a finite number in [0, 1]; the previous command stays.
        """
        try:
            value = float(closure)
        except (TypeError, ValueError) as err:
            raise GripperCommandError(f"gripper closure must be a number in [0, 1], got {closure!r}") from err
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise GripperCommandError(f"gripper closure must be in [0, 1] (0 open, 1 closed), got {value}")
        self.data.ctrl[self._grip_act] = value * GRIPPER_STROKE_M

    # ------------------------------------------------------------------ state

    @property
    def joint_names(self) -> tuple[str, ...]:
        """Order of every joint array of this class."""
        return UR10E_JOINT_NAMES

    def joint_positions(self) -> np.ndarray:
        """(6,) measured joint positions, radians."""
        return self.data.qpos[self._arm_qpos].copy()

    def joint_velocities(self) -> np.ndarray:
        """(6,) measured joint velocities, rad/s."""
        return self.data.qvel[self._arm_dof].copy()

    def gripper_closure(self) -> float:
        """Measured closure, 0 = open … 1 = fully closed (≈ 0.44 when holding a 5 cm cube)."""
        travel = float(np.mean(self.data.qpos[self._finger_qpos]))
        return min(max(travel / GRIPPER_STROKE_M, 0.0), 1.0)

    def flange_pose(self) -> np.ndarray:
        """(4, 4) T_base_link_flange (DH frame 6 = URDF tool0), metres."""
        return _pose(self.data.site_xpos[self._flange_site], self.data.site_xmat[self._flange_site])

    def tcp_pose(self) -> np.ndarray:
        """(4, 4) T_base_link_tcp, the point midway between the pads, metres."""
        return _pose(self.data.site_xpos[self._tcp_site], self.data.site_xmat[self._tcp_site])

    @property
    def T_flange_tcp(self) -> np.ndarray:  # noqa: N802 - T_a_b is the project-wide transform naming
        """(4, 4) the tool transform the IK must use for this gripper (read-only)."""
        return T_FLANGE_TCP

    def objects(self) -> tuple[ObjectState, ...]:
        """Ground truth of every cube, then the bin (base_link)."""
        d, size = self.data, self.config.scene.cube_size_m
        out = []
        for spec, body in zip(self._cubes, self._cube_body, strict=True):
            out.append(
                ObjectState(
                    spec.name,
                    spec.class_name,
                    size,
                    _ro(np.full(3, size)),
                    _ro(d.xpos[body]),
                    _ro(d.xquat[body]),
                )
            )
        bin_size = np.asarray(self.config.scene.bin_size_m, dtype=np.float64)
        out.append(
            ObjectState(
                BIN_NAME,
                "bin",
                float(bin_size[0]),
                _ro(bin_size),
                _ro(d.xpos[self._bin_body]),
                _ro(d.xquat[self._bin_body]),
            )
        )
        return tuple(out)

    # ------------------------------------------------------------------ camera

    @property
    def intrinsics(self) -> CameraIntrinsics:
        """Pinhole intrinsics of the colour and the aligned depth image."""
        return self._intrinsics

    @property
    def T_base_link_camera(self) -> np.ndarray:  # noqa: N802 - T_a_b is the project-wide transform naming
        """(4, 4) pose of the camera OPTICAL frame (x right, y down, z forward) in base_link."""
        return self._T_base_link_camera.copy()

    def _camera_pose(self) -> np.ndarray:
        T = _pose(self.data.cam_xpos[self._camera_id], self.data.cam_xmat[self._camera_id])
        T[:3, :3] = T[:3, :3] @ R_MUJOCO_OPTICAL
        return T

    def render(self) -> RgbdFrame:
        """Render the camera at the current state (colour + aligned depth, noise per config).

        Raises:
            SimError: no OpenGL context (see ``RgbdRenderer``).
        """
        cam = self.config.camera
        if self._renderer is None:
            self._renderer = RgbdRenderer(self.model, CAMERA_NAME, cam.width_px, cam.height_px)
        rgb, depth = self._renderer.render(self.data)
        depth_mm, depth_m = make_depth_image(depth, cam, self.config.depth_noise, self._noise_rng)
        for arr in (rgb, depth_mm, depth_m):
            arr.setflags(write=False)
        return RgbdFrame(rgb=rgb, depth_mm=depth_mm, depth_m=depth_m, time_s=self.time_s)


def _id(model: mujoco.MjModel, kind: mujoco.mjtObj, name: str) -> int:
    index = mujoco.mj_name2id(model, kind, name)
    if index < 0:
        raise SimError(f"the generated model has no {kind.name} named {name!r}")
    return int(index)


def _under(model: mujoco.MjModel, body: int, root: int) -> bool:
    """``body`` is ``root`` or one of its descendants."""
    while body > 0:
        if body == root:
            return True
        body = int(model.body_parentid[body])
    return root == 0


def _ro(a: np.ndarray) -> np.ndarray:
    out = np.array(a, dtype=np.float64)
    out.setflags(write=False)
    return out
