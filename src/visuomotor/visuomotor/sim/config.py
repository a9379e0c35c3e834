"""Configuration of the simulator: one frozen dataclass per concern, validated on construction.

A ROS node reads ``config/sim.yaml`` (``sim: ros__parameters: ...``) into :class:`SimConfig` with
:meth:`SimConfig.from_flat`; nested sections become dotted keys (``camera.fovy_deg``), exactly as
ROS 2 flattens a nested parameters file. Every error names the dotted key.

All positions are in ``base_link`` (the MuJoCo world frame), in metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from visuomotor.config import (
    config_from_flat,
    config_to_flat,
    require_finite,
    require_interval,
    require_positive,
)
from visuomotor.errors import ConfigError
from visuomotor.kinematics import UR10E_JOINT_LIMITS_RAD, UR10E_JOINT_NAMES

__all__ = [
    "CalibrationMarkerConfig",
    "CameraConfig",
    "ConveyorConfig",
    "DepthNoiseConfig",
    "SceneConfig",
    "SimConfig",
]

#: Modes the ROS node understands: ``realtime`` paces physics to the wall clock, ``lockstep`` steps
#: the physics a fixed amount per published frame regardless of wall time (deterministic runs).
CLOCK_MODES = ("realtime", "lockstep")


def _length(key: str, values: tuple[float, ...], n: int) -> None:
    if len(values) != n:
        raise ConfigError(f"{key} must have {n} numbers, got {len(values)}: {list(values)}")
    for v in values:
        require_finite(key, v)


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """The fixed RGB-D camera (D455-like colour stream, depth aligned to colour).

    Attributes:
        width_px, height_px: image size.
        fovy_deg: vertical field of view; fx = fy = (height/2)/tan(fovy/2) (60° → 415.7 px at 480 rows).
        position_m: (3,) optical centre in base_link.
        look_at_m: (3,) point in base_link the optical axis passes through.
        min_range_m: depth below this is "no data" (D455 min-Z ≈ 0.4 m at 640×480).
        max_range_m: depth beyond this is "no data".
    """

    width_px: int = 640
    height_px: int = 480
    fovy_deg: float = 60.0
    position_m: tuple[float, float, float] = (1.4, 0.0, 1.25)
    look_at_m: tuple[float, float, float] = (0.35, 0.0, 0.1)
    min_range_m: float = 0.4
    max_range_m: float = 6.0

    def __post_init__(self) -> None:
        if not (16 <= self.width_px <= 4096 and 16 <= self.height_px <= 4096):
            raise ConfigError(
                f"camera.width_px/height_px must be in [16, 4096], got {self.width_px}×{self.height_px}"
            )
        if not (math.isfinite(self.fovy_deg) and 1.0 <= self.fovy_deg <= 170.0):
            raise ConfigError(f"camera.fovy_deg must be in [1, 170] degrees, got {self.fovy_deg}")
        _length("camera.position_m", self.position_m, 3)
        _length("camera.look_at_m", self.look_at_m, 3)
        if math.dist(self.position_m, self.look_at_m) < 1e-3:
            raise ConfigError("camera.look_at_m must differ from camera.position_m")
        require_positive("camera.min_range_m", self.min_range_m)
        require_positive("camera.max_range_m", self.max_range_m)
        if self.max_range_m <= self.min_range_m:
            raise ConfigError(
                f"camera.max_range_m ({self.max_range_m}) must exceed camera.min_range_m ({self.min_range_m})"
            )
        if self.max_range_m > 65.0:
            raise ConfigError(f"camera.max_range_m must be ≤ 65 m (uint16 mm), got {self.max_range_m}")


@dataclass(frozen=True, slots=True)
class DepthNoiseConfig:
    """Stereo-like depth noise: σ(z) = sigma_base_m + sigma_scale_per_m · z², holes at edges.

    The quadratic growth is the stereo error law (σ ∝ z² / (f·baseline)); the defaults give
    σ ≈ 2.5 mm at 1 m and ≈ 32 mm (0.8 %) at 4 m, inside the D455's "≤ 2 % at 4 m".

    Attributes:
        enabled: add noise and holes; off gives exact (mm-quantised) depth.
        sigma_base_m: range-independent σ.
        sigma_scale_per_m: coefficient of z² in σ (1/m).
        edge_threshold_m: a depth jump larger than this between 4-neighbours marks an edge pixel.
        edge_hole_probability: chance that an edge pixel reads "no data" (stereo fails at occlusions).
        random_hole_probability: chance that any pixel reads "no data".
    """

    enabled: bool = False
    sigma_base_m: float = 0.0005
    sigma_scale_per_m: float = 0.002
    edge_threshold_m: float = 0.03
    edge_hole_probability: float = 0.5
    random_hole_probability: float = 0.002

    def __post_init__(self) -> None:
        for key in ("sigma_base_m", "sigma_scale_per_m"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"depth_noise.{key} must be ≥ 0, got {value}")
        require_positive("depth_noise.edge_threshold_m", self.edge_threshold_m)
        for key in ("edge_hole_probability", "random_hole_probability"):
            value = getattr(self, key)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ConfigError(f"depth_noise.{key} must be in [0, 1], got {value}")


@dataclass(frozen=True, slots=True)
class SceneConfig:
    """What stands on the table and where cubes may be placed (base_link, table top at z = 0).

    Attributes:
        num_cubes: cubes in the scene; classes cycle red, green, blue (≥ 3 so every class appears).
        cube_size_m: cube edge (the gripper opens to 85 mm).
        cube_mass_kg: mass of one cube.
        cube_color_jitter: per-reset uniform ± jitter of each RGB channel within a class (0 = fixed).
        workspace_x_m, workspace_y_m: [min, max] rectangle for random cube centres.
        min_cube_separation_m: minimum centre distance between cubes.
        bin_center_xy_m: (2,) centre of the bin footprint.
        bin_size_m: (3,) outer width (x), depth (y), height (z) of the bin.
        home_q_rad: (6,) arm joints after reset, UR10E_JOINT_NAMES order.
        num_distractors: visual-only mocap bodies (no collisions, not labelled) that domain
            randomisation (``visuomotor.sim.randomize``) shapes, colours and places; they are parked
            out of view until then, so 0 or more leaves every render of a plain scene unchanged.
    """

    num_cubes: int = 3
    cube_size_m: float = 0.05
    cube_mass_kg: float = 0.1
    cube_color_jitter: float = 0.0
    workspace_x_m: tuple[float, float] = (0.4, 0.9)
    workspace_y_m: tuple[float, float] = (-0.15, 0.5)
    min_cube_separation_m: float = 0.1
    bin_center_xy_m: tuple[float, float] = (0.55, -0.45)
    bin_size_m: tuple[float, float, float] = (0.3, 0.3, 0.1)
    home_q_rad: tuple[float, float, float, float, float, float] = (-0.4, -2.2, 2.1, -1.47, -1.5708, 0.0)
    num_distractors: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.num_distractors <= 16):
            raise ConfigError(f"scene.num_distractors must be in [0, 16], got {self.num_distractors}")
        if not (3 <= self.num_cubes <= 12):
            raise ConfigError(f"scene.num_cubes must be in [3, 12], got {self.num_cubes}")
        if not (math.isfinite(self.cube_size_m) and 0.02 <= self.cube_size_m <= 0.07):
            raise ConfigError(
                f"scene.cube_size_m must be in [0.02, 0.07] m (gripper stroke), got {self.cube_size_m}"
            )
        require_positive("scene.cube_mass_kg", self.cube_mass_kg)
        if not (math.isfinite(self.cube_color_jitter) and 0.0 <= self.cube_color_jitter <= 0.3):
            raise ConfigError(f"scene.cube_color_jitter must be in [0, 0.3], got {self.cube_color_jitter}")
        _length("scene.workspace_x_m", self.workspace_x_m, 2)
        _length("scene.workspace_y_m", self.workspace_y_m, 2)
        require_interval("scene.workspace_x_m", self.workspace_x_m)
        require_interval("scene.workspace_y_m", self.workspace_y_m)
        require_positive("scene.min_cube_separation_m", self.min_cube_separation_m)
        if self.min_cube_separation_m < self.cube_size_m * math.sqrt(2):
            raise ConfigError(
                f"scene.min_cube_separation_m ({self.min_cube_separation_m}) must be ≥ the cube "
                f"diagonal ({self.cube_size_m * math.sqrt(2):.3f} m) so cubes cannot overlap"
            )
        _length("scene.bin_center_xy_m", self.bin_center_xy_m, 2)
        _length("scene.bin_size_m", self.bin_size_m, 3)
        if min(self.bin_size_m) <= 0.02:
            raise ConfigError(f"scene.bin_size_m must all exceed 0.02 m, got {list(self.bin_size_m)}")
        _length("scene.home_q_rad", self.home_q_rad, 6)
        for name, q, (lo, hi) in zip(UR10E_JOINT_NAMES, self.home_q_rad, UR10E_JOINT_LIMITS_RAD, strict=True):
            if not lo <= q <= hi:
                raise ConfigError(
                    f"scene.home_q_rad: {name} = {q} rad is outside its limits [{lo:.4f}, {hi:.4f}]"
                )


@dataclass(frozen=True, slots=True)
class ConveyorConfig:
    """An optional conveyor belt on the table that carries cubes past the arm (off by default).

    The belt is a strip along base_link +y at ``center_x_m``, from ``y_range_m[0]`` (upstream) to
    ``y_range_m[1]`` (downstream, the table edge by default: a cube nobody picks falls off the end).
    ``cubes`` of the scene's cubes spawn upstream on it, one behind the other, the others stay on the
    table clear of the belt. Kinematic, as is common for conveyors in physics simulators: every physics
    step a cube resting on the belt and touched by no finger gets the belt's velocity (the belt's contact
    is frictionless, so nothing fights it); a cube the fingers touch or that is lifted is left to physics.

    Attributes:
        speed_m_s: belt speed along +y; 0 = no belt at all (the plain pick scene, unchanged).
        center_x_m: x of the belt's centre line.
        y_range_m: [start, end] of the belt along y; cubes move from start to end.
        width_m: belt width (x extent).
        cubes: cubes placed on the belt at reset (the rest stay on the table, off the belt).
        spawn_y_m: [min, max] y of the leading (most downstream) belt cube at reset, drawn uniformly.
        spacing_m: distance between consecutive belt cubes.
        x_jitter_m: ± uniform offset of each belt cube from the centre line.
    """

    speed_m_s: float = 0.0
    center_x_m: float = 0.72
    y_range_m: tuple[float, float] = (-0.25, 0.9)
    width_m: float = 0.14
    cubes: int = 1
    spawn_y_m: tuple[float, float] = (-0.2, -0.1)
    spacing_m: float = 0.3
    x_jitter_m: float = 0.01

    def __post_init__(self) -> None:
        if not (math.isfinite(self.speed_m_s) and 0.0 <= self.speed_m_s <= 0.5):
            raise ConfigError(f"conveyor.speed_m_s must be in [0, 0.5] m/s, got {self.speed_m_s}")
        require_finite("conveyor.center_x_m", self.center_x_m)
        _length("conveyor.y_range_m", self.y_range_m, 2)
        require_interval("conveyor.y_range_m", self.y_range_m)
        _length("conveyor.spawn_y_m", self.spawn_y_m, 2)
        require_interval("conveyor.spawn_y_m", self.spawn_y_m)
        if not (math.isfinite(self.width_m) and 0.06 <= self.width_m <= 0.5):
            raise ConfigError(f"conveyor.width_m must be in [0.06, 0.5] m, got {self.width_m}")
        if not 1 <= self.cubes <= 12:
            raise ConfigError(f"conveyor.cubes must be in [1, 12], got {self.cubes}")
        require_positive("conveyor.spacing_m", self.spacing_m)
        if not (math.isfinite(self.x_jitter_m) and 0.0 <= self.x_jitter_m < self.width_m / 2):
            raise ConfigError(
                f"conveyor.x_jitter_m must be in [0, width_m / 2), got {self.x_jitter_m}"
            )
        lo, hi = self.y_range_m
        last = self.spawn_y_m[0] - (self.cubes - 1) * self.spacing_m
        if last < lo or self.spawn_y_m[1] > hi:
            raise ConfigError(
                f"conveyor.spawn_y_m {list(self.spawn_y_m)} with {self.cubes} cubes {self.spacing_m} m apart "
                f"does not fit on the belt conveyor.y_range_m {list(self.y_range_m)}"
            )

    @property
    def enabled(self) -> bool:
        """A belt exists (speed > 0)."""
        return self.speed_m_s > 0.0


@dataclass(frozen=True, slots=True)
class CalibrationMarkerConfig:
    """An optional checkerboard on the flange, for hand-eye calibration (``visuomotor.calibration``).

    A white plate with a printed checkerboard, perpendicular to the flange z axis and facing away from
    the flange, just beyond the gripper fingers (``visuomotor.sim.scene.T_FLANGE_MARKER``). It is visual
    only and massless, so the physics is the same with and without it; off, the model has no trace of it.

    Attributes:
        enabled: build the board into the model.
        squares_x, squares_y: squares along the marker x / y axes; their sum must be odd, so that the
            pattern is not symmetric under a half turn and the corner order is unambiguous.
        square_size_m: edge of one square, metres.
    """

    enabled: bool = False
    squares_x: int = 8
    squares_y: int = 7
    square_size_m: float = 0.04

    def __post_init__(self) -> None:
        for key in ("squares_x", "squares_y"):
            value = getattr(self, key)
            if not 3 <= value <= 20:
                raise ConfigError(f"calibration_marker.{key} must be in [3, 20], got {value}")
        if (self.squares_x + self.squares_y) % 2 == 0:
            raise ConfigError(
                f"calibration_marker.squares_x + squares_y must be odd (got {self.squares_x} + "
                f"{self.squares_y}): an even sum makes the board symmetric under a half turn; add or "
                "remove one row of squares"
            )
        if not (math.isfinite(self.square_size_m) and 0.005 <= self.square_size_m <= 0.1):
            raise ConfigError(
                f"calibration_marker.square_size_m must be in [0.005, 0.1] m, got {self.square_size_m}"
            )


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything the simulator needs; the defaults are the ones in ``config/sim.yaml``.

    Attributes:
        timestep_s: physics step (2 ms was measured to hold the grasp; ≤ 5 ms accepted).
        seed: base seed for scene randomisation and depth noise; ``reset(seed)`` overrides it.
        publish_rate_hz: camera/joint-state publish rate of the ROS node.
        clock_mode: ``realtime`` (physics paced to the wall clock) or ``lockstep`` (fixed physics time
            per published frame, as fast as the CPU allows).
        camera: the RGB-D camera.
        depth_noise: the depth-noise model.
        scene: table contents and the arm's home pose.
        conveyor: an optional conveyor belt carrying cubes past the arm (off: speed 0).
        calibration_marker: an optional checkerboard on the flange (off by default). While it is off its
            keys are left out of :meth:`to_flat_dict`, so ``config/sim.yaml`` and the sim node's ROS
            parameters are exactly those of a scene without it.
    """

    timestep_s: float = 0.002
    seed: int = 0
    publish_rate_hz: float = 30.0
    clock_mode: str = "realtime"
    camera: CameraConfig = field(default_factory=CameraConfig)
    depth_noise: DepthNoiseConfig = field(default_factory=DepthNoiseConfig)
    scene: SceneConfig = field(default_factory=SceneConfig)
    conveyor: ConveyorConfig = field(default_factory=ConveyorConfig)
    calibration_marker: CalibrationMarkerConfig = field(default_factory=CalibrationMarkerConfig)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.timestep_s) and 1e-4 <= self.timestep_s <= 0.005):
            raise ConfigError(f"timestep_s must be in [0.0001, 0.005] s, got {self.timestep_s}")
        if self.seed < 0:
            raise ConfigError(f"seed must be ≥ 0, got {self.seed}")
        if not (math.isfinite(self.publish_rate_hz) and 0 < self.publish_rate_hz <= 1000):
            raise ConfigError(f"publish_rate_hz must be in (0, 1000], got {self.publish_rate_hz}")
        if self.clock_mode not in CLOCK_MODES:
            raise ConfigError(f"clock_mode must be one of {CLOCK_MODES}, got {self.clock_mode!r}")
        if self.conveyor.cubes > self.scene.num_cubes:
            raise ConfigError(
                f"conveyor.cubes ({self.conveyor.cubes}) cannot exceed scene.num_cubes "
                f"({self.scene.num_cubes})"
            )

    @classmethod
    def from_flat(cls, d: dict[str, Any]) -> SimConfig:
        """Build a config from dotted keys (``{"camera.fovy_deg": 58.0, "seed": 3}``).

        Missing keys keep their defaults. Lists are accepted for tuple fields and ints for floats
        (ROS parameter files write ``1`` for ``1.0``). Nested dicts (``{"camera": {"fovy_deg": 58}}``,
        as ``yaml.safe_load`` returns them) are flattened to dotted keys first.

        Raises:
            ConfigError: an unknown key, a value of the wrong type or shape, or a value out of range;
                the message names the dotted key.
        """
        return config_from_flat(cls, d, "sim")

    def to_flat_dict(self) -> dict[str, Any]:
        """The inverse of :meth:`from_flat`: dotted keys, tuples as lists (ROS-parameter friendly).

        The ``calibration_marker.*`` keys appear only when the marker is enabled (see the class doc).
        """
        flat = config_to_flat(self)
        if not self.calibration_marker.enabled:
            flat = {k: v for k, v in flat.items() if not k.startswith("calibration_marker.")}
        return flat
