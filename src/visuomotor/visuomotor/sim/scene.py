"""The MJCF scene, built in code from primitives: UR10e from the DH table, parallel gripper, table,
cubes, bin and a camera on a stand (and, only if configured, a calibration checkerboard on the flange).

Frames: the MuJoCo world frame is ``base_link``; the DH chain starts at body ``base`` = base_link
rotated π about z (T_BASE_LINK_BASE). The table top is the plane z = 0 and the robot stands on it at
the origin. Physics parameters are the ones measured for this cell (MuJoCo 4.0):
position servos with gravity compensation, pads with a stiff, high-friction elliptic contact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from visuomotor.kinematics import (
    T_BASE_LINK_BASE,
    TCP_OFFSET_M,
    UR10E_DH,
    UR10E_JOINT_LIMITS_RAD,
    UR10E_JOINT_NAMES,
)
from visuomotor.sim.config import CalibrationMarkerConfig, SimConfig

__all__ = [
    "BIN_NAME",
    "CALIBRATION_MARKER_SITE",
    "CAMERA_NAME",
    "CONVEYOR_NAME",
    "CONVEYOR_TOP_M",
    "CUBE_CLASSES",
    "DISTRACTOR_PARK_M",
    "DISTRACTOR_PREFIX",
    "FINGER_JOINTS",
    "FLANGE_SITE",
    "GRIPPER_ACTUATOR",
    "GRIPPER_STROKE_M",
    "TABLE_MATERIALS",
    "TCP_SITE",
    "T_FLANGE_MARKER",
    "CubeSpec",
    "build_mjcf",
    "cube_specs",
    "look_at_xyaxes",
]

CAMERA_NAME = "rgbd_camera"
FLANGE_SITE = "flange"
TCP_SITE = "tcp"
GRIPPER_ACTUATOR = "gripper"
FINGER_JOINTS = ("finger_left_joint", "finger_right_joint")
BIN_NAME = "bin"
#: The conveyor belt's geom (only in a model whose ``conveyor.speed_m_s`` > 0) and the height of its top.
CONVEYOR_NAME = "conveyor"
CONVEYOR_TOP_M = 0.002
#: Distractor i is the mocap body ``distractor_{i}`` with one geom of the same name.
DISTRACTOR_PREFIX = "distractor_"
#: Extra table materials (textured) that domain randomisation may switch the table geom to; unused by
#: default, so a plain scene renders exactly as without them.
TABLE_MATERIALS = ("table", "table_checker", "table_grain", "table_noise")
#: Distractors wait here (below the floor, out of view) until something places them.
DISTRACTOR_PARK_M = (0.0, 0.0, -5.0)


#: The optional calibration checkerboard (``SimConfig.calibration_marker``): a site at the marker frame.
CALIBRATION_MARKER_SITE = "calibration_marker"
#: Flange → marker frame. The marker frame follows OpenCV's board convention: origin at the centre of the
#: printed checkerboard, on its surface; x along ``squares_x``, y along ``squares_y``; z into the board
#: (towards the flange), so a camera facing the board sees it with z pointing away. The printed face is
#: 0.19 m out along the flange z axis, clear of the finger tips (≈ 0.175 m).
T_FLANGE_MARKER = np.array([[1.0, 0, 0, 0], [0, -1.0, 0, 0], [0, 0, -1.0, 0.19], [0, 0, 0, 1.0]])
T_FLANGE_MARKER.setflags(write=False)
_MARKER_PLATE_THICKNESS_M = 0.006
#: The checkerboard is printed this far in front of the white plate (no z-fighting in the depth buffer).
_MARKER_PRINT_OFFSET_M = 0.0005

#: Finger travel from open (85 mm between the pads) to the stop (5 mm between the pads).
GRIPPER_OPEN_GAP_M = 0.085
GRIPPER_STROKE_M = 0.04
_PAD_HALF = (0.0125, 0.002, 0.0125)  # 25 × 4 × 25 mm (x, y = closing direction, z)

#: Cube classes and their nominal colours (RGBA); cube i has class i mod 3.
CUBE_CLASSES: tuple[tuple[str, tuple[float, float, float, float]], ...] = (
    ("red_cube", (0.85, 0.12, 0.10, 1.0)),
    ("green_cube", (0.12, 0.70, 0.20, 1.0)),
    ("blue_cube", (0.12, 0.25, 0.85, 1.0)),
)

# Measured servo gains: critically damped near home, 0 steady error with gravcomp.
_ARM_KP = (5000.0, 5000.0, 5000.0, 1000.0, 1000.0, 1000.0)
_ARM_KV = (261.0, 411.0, 255.0, 26.0, 23.0, 20.0)
_ARM_FORCE = (330.0, 330.0, 150.0, 56.0, 56.0, 56.0)
_ARM_ARMATURE = (0.5, 0.5, 0.5, 0.1, 0.1, 0.1)
# UR10e link masses (kg) from the public URDF; inertia follows from the primitive shapes.
_LINK_MASS = (7.369, 13.051, 3.989, 2.1, 1.98, 0.615)

# Contact model that held cubes with ≤ 0.26 mm slip (measured).
_GRIP_CONTACT = 'friction="1 0.005 0.0001" condim="4" solref="0.01 1" solimp="0.95 0.99 0.001 0.5 2"'
# Collision bits: world geoms collide with everything, gripper geoms only with the world; arm
# links are visual only (they would otherwise self-collide along the primitive chain).
_WORLD_BITS = 'contype="1" conaffinity="3"'
_GRIPPER_BITS = 'contype="2" conaffinity="1"'
_VISUAL_BITS = 'contype="0" conaffinity="0"'


@dataclass(frozen=True, slots=True)
class CubeSpec:
    """A cube as built into the model.

    Attributes:
        name: body (and geom) name, e.g. ``red_cube_0``.
        class_name: detector class, e.g. ``red_cube``.
        rgba: nominal colour.
    """

    name: str
    class_name: str
    rgba: tuple[float, float, float, float]


def cube_specs(num_cubes: int) -> tuple[CubeSpec, ...]:
    """Names, classes and nominal colours of ``num_cubes`` cubes (classes cycle red, green, blue)."""
    specs = []
    for i in range(num_cubes):
        class_name, rgba = CUBE_CLASSES[i % len(CUBE_CLASSES)]
        specs.append(CubeSpec(f"{class_name}_{i}", class_name, rgba))
    return tuple(specs)


def look_at_xyaxes(position_m: np.ndarray, look_at_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MuJoCo camera axes (x right, y up; it looks along −z) that aim at a point with no roll.

    Args:
        position_m: (3,) camera position in base_link.
        look_at_m: (3,) target in base_link.

    Returns:
        (x_axis, y_axis) of the MuJoCo camera in base_link, each (3,) unit.
    """
    forward = np.asarray(look_at_m, float) - np.asarray(position_m, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-6:  # looking straight down: pick x right arbitrarily
        right = np.array([0.0, -1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return right, up


def _f(values: tuple[float, ...] | np.ndarray) -> str:
    return " ".join(f"{float(v):.9g}" for v in values)


def _rot_z_quat(angle_rad: float) -> str:
    return _f((math.cos(angle_rad / 2), 0.0, 0.0, math.sin(angle_rad / 2)))


def _dh_child_frame(i: int) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
    """Pose of DH frame i+1 in the body of joint i: Tz(d_i)·Tx(a_i)·Rx(α_i) after the hinge's Rz(θ_i)."""
    d, a, alpha = UR10E_DH.d[i], UR10E_DH.a[i], UR10E_DH.alpha[i]
    return (a, 0.0, d), (math.cos(alpha / 2), math.sin(alpha / 2), 0.0, 0.0)


def _arm_xml(marker: CalibrationMarkerConfig) -> str:
    """The UR10e: body per DH link, hinge about local z, next body at (a, 0, d) rotated α about x."""
    d, a = UR10E_DH.d, UR10E_DH.a
    lim = np.asarray(UR10E_JOINT_LIMITS_RAD, float)
    blue, grey = "0.30 0.55 0.75 1", "0.75 0.77 0.8 1"
    # Visual shapes per link in its body frame: (type, from, to, radius, share of the link mass, colour).
    # A joint housing along the hinge axis, plus the upper arm / forearm along the DH x offsets.
    shapes: tuple[tuple[tuple[str, tuple[float, ...], tuple[float, ...], float, float, str], ...], ...] = (
        (("cylinder", (0, 0, 0.02), (0, 0, d[0] + 0.06), 0.075, 1.0, blue),),
        (
            ("cylinder", (0, 0, -0.075), (0, 0, 0.075), 0.075, 0.35, blue),
            ("capsule", (0, 0, 0), (a[1], 0, 0), 0.06, 0.65, grey),
        ),
        (
            ("cylinder", (0, 0, -0.062), (0, 0, 0.062), 0.062, 0.35, blue),
            ("capsule", (0, 0, 0), (a[2], 0, 0), 0.048, 0.65, grey),
        ),
        (("cylinder", (0, 0, -0.05), (0, 0, d[3]), 0.047, 1.0, blue),),
        (("cylinder", (0, 0, -0.05), (0, 0, d[4]), 0.046, 1.0, blue),),
        (("cylinder", (0, 0, -0.045), (0, 0, d[5] - 0.005), 0.045, 1.0, blue),),
    )
    xml = []
    for i, name in enumerate(UR10E_JOINT_NAMES):
        pos, quat = ((0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0)) if i == 0 else _dh_child_frame(i - 1)
        geoms = "".join(
            f'<geom type="{kind}" fromto="{_f(p0 + p1)}" size="{radius}" mass="{share * _LINK_MASS[i]:.6g}" '
            f'rgba="{colour}" {_VISUAL_BITS}/>'
            for kind, p0, p1, radius, share, colour in shapes[i]
        )
        xml.append(
            f'<body name="{name.removesuffix("_joint")}_link" pos="{_f(pos)}" quat="{_f(quat)}" gravcomp="1">'
            f'<joint name="{name}" type="hinge" axis="0 0 1" range="{_f(lim[i])}" '
            f'armature="{_ARM_ARMATURE[i]}"/>{geoms}'
        )
    # The flange is DH frame 6; the gripper frame is the flange frame.
    pos, quat = _dh_child_frame(5)
    xml.append(f'<site name="{FLANGE_SITE}" pos="{_f(pos)}" quat="{_f(quat)}" size="0.005" rgba="1 0 0 0"/>')
    xml.append(_gripper_xml(pos, quat, marker))
    xml.append("</body>" * len(UR10E_JOINT_NAMES))
    return "\n".join(xml)


def _gripper_xml(
    flange_pos: tuple[float, ...], flange_quat: tuple[float, ...], marker: CalibrationMarkerConfig
) -> str:
    """A parallel gripper whose frame is the flange frame; fingers close along ±y (+ the optional board)."""
    pad_y = GRIPPER_OPEN_GAP_M / 2 + _PAD_HALF[1]  # pad centre when open
    bar_half = (0.012, 0.006, 0.053)
    bar_y = pad_y + _PAD_HALF[1] + bar_half[1]
    bar_z = TCP_OFFSET_M + 0.015 - bar_half[2]  # bar bottom 15 mm below the TCP
    fingers = []
    for side, sign in (("left", 1.0), ("right", -1.0)):
        fingers.append(
            f'<body name="finger_{side}" pos="0 {sign * bar_y:.9g} 0" gravcomp="1">'
            f'<joint name="finger_{side}_joint" type="slide" axis="0 {-sign:g} 0" '
            f'range="0 {GRIPPER_STROKE_M}" armature="0.01"/>'
            f'<geom type="box" pos="0 0 {bar_z:.9g}" size="{_f(bar_half)}" mass="0.1" '
            f'rgba="0.2 0.2 0.22 1" {_GRIPPER_BITS}/>'
            f'<geom name="pad_{side}" type="box" pos="0 {sign * (pad_y - bar_y):.9g} {TCP_OFFSET_M:.9g}" '
            f'size="{_f(_PAD_HALF)}" mass="0.01" rgba="0.9 0.5 0.1 1" {_GRIPPER_BITS} '
            f"{_GRIP_CONTACT}/>"
            "</body>"
        )
    return (
        f'<body name="gripper" pos="{_f(flange_pos)}" quat="{_f(flange_quat)}" gravcomp="1">'
        f'<geom type="cylinder" fromto="0 0 0 0 0 0.03" size="0.04" mass="0.3" rgba="0.2 0.2 0.22 1" '
        f"{_VISUAL_BITS}/>"
        f'<geom type="box" pos="0 0 0.05" size="0.03 0.07 0.02" mass="0.6" rgba="0.25 0.25 0.28 1" '
        f"{_GRIPPER_BITS}/>"
        f'<site name="{TCP_SITE}" pos="0 0 {TCP_OFFSET_M}" size="0.004" rgba="0 1 0 0"/>'
        + "".join(fingers)
        + (_marker_xml(marker) if marker.enabled else "")
        + "</body>"
    )


def _marker_assets_xml(marker: CalibrationMarkerConfig) -> str:
    """The checkerboard texture, its materials and the printed quad (a mesh with exact UVs).

    The builtin ``checker`` texture is one 2×2 block of squares, so a UV span of 1 covers two squares;
    the quad's UVs run to (squares_x / 2, squares_y / 2) and the texture repeats. Its vertices are in the
    marker frame, wound so that the textured side faces −z (out of the board).
    """
    half_x = marker.squares_x * marker.square_size_m / 2
    half_y = marker.squares_y * marker.square_size_m / 2
    vertices = (-half_x, -half_y, 0.0, half_x, -half_y, 0.0, half_x, half_y, 0.0, -half_x, half_y, 0.0)
    u, v = marker.squares_x / 2, marker.squares_y / 2
    uv = (0.0, 0.0, u, 0.0, u, v, 0.0, v)
    # Matte (no specular highlight): a highlight would shift the detected corners.
    return (
        '<texture name="calibration_checker" type="2d" builtin="checker" rgb1="0.05 0.05 0.05" '
        'rgb2="0.85 0.85 0.85" width="512" height="512"/>'
        '<material name="calibration_checker" texture="calibration_checker" specular="0" shininess="0"/>'
        '<material name="calibration_plate" rgba="0.85 0.85 0.85 1" specular="0" shininess="0"/>'
        f'<mesh name="calibration_checker" vertex="{_f(vertices)}" texcoord="{_f(uv)}" face="0 2 1 0 3 2" '
        'inertia="shell"/>'
    )


def _marker_xml(marker: CalibrationMarkerConfig) -> str:
    """The board in the gripper (= flange) frame: visual only, massless, with a site at the marker frame."""
    R, t = T_FLANGE_MARKER[:3, :3], T_FLANGE_MARKER[:3, 3]
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(R).ravel())
    border = marker.square_size_m  # a white quiet zone one square wide, as OpenCV's detector expects
    plate_half = (
        marker.squares_x * marker.square_size_m / 2 + border,
        marker.squares_y * marker.square_size_m / 2 + border,
        _MARKER_PLATE_THICKNESS_M / 2,
    )
    plate_z = _MARKER_PRINT_OFFSET_M + _MARKER_PLATE_THICKNESS_M / 2  # behind the print (marker +z)
    return (
        f'<body name="calibration_marker" pos="{_f(t)}" quat="{_f(quat)}">'
        f'<site name="{CALIBRATION_MARKER_SITE}" size="0.005" rgba="0 0 1 0"/>'
        f'<geom type="mesh" mesh="calibration_checker" material="calibration_checker" mass="0" '
        f"{_VISUAL_BITS}/>"
        f'<geom type="box" pos="0 0 {plate_z:.9g}" size="{_f(plate_half)}" material="calibration_plate" '
        f'mass="0" {_VISUAL_BITS}/>'
        "</body>"
    )


def _table_xml() -> str:
    """Table top (z = 0 is its upper face), legs, floor at z = −0.75."""
    top_half = (0.8, 0.9, 0.025)
    top_pos = (0.45, 0.0, -top_half[2])
    legs = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            x = top_pos[0] + sx * (top_half[0] - 0.05)
            y = sy * (top_half[1] - 0.05)
            legs.append(
                f'<geom type="box" pos="{x:.4g} {y:.4g} -0.3875" size="0.03 0.03 0.3625" '
                f'rgba="0.35 0.3 0.25 1" {_VISUAL_BITS}/>'
            )
    return (
        '<geom name="floor" type="plane" pos="0 0 -0.75" size="10 10 0.1" material="floor" '
        f"{_WORLD_BITS}/>"
        f'<geom name="table" type="box" pos="{_f(top_pos)}" size="{_f(top_half)}" material="table" '
        f"{_WORLD_BITS}/>" + "".join(legs)
    )


def _bin_xml(center_xy: tuple[float, float], size: tuple[float, float, float]) -> str:
    """An open box standing on the table; the body origin is the centre of its bounding box."""
    w, dpt, h = size
    t = 0.01  # wall and floor thickness
    walls = [
        ((0, 0, -h / 2 + t / 2), (w / 2, dpt / 2, t / 2)),
        ((w / 2 - t / 2, 0, 0), (t / 2, dpt / 2, h / 2)),
        ((-w / 2 + t / 2, 0, 0), (t / 2, dpt / 2, h / 2)),
        ((0, dpt / 2 - t / 2, 0), (w / 2 - t, t / 2, h / 2)),
        ((0, -dpt / 2 + t / 2, 0), (w / 2 - t, t / 2, h / 2)),
    ]
    geoms = "".join(
        f'<geom type="box" pos="{_f(p)}" size="{_f(s)}" rgba="0.55 0.55 0.58 1" {_WORLD_BITS}/>'
        for p, s in walls
    )
    return f'<body name="{BIN_NAME}" pos="{center_xy[0]:.9g} {center_xy[1]:.9g} {h / 2:.9g}">{geoms}</body>'


def _conveyor_xml(config: SimConfig) -> str:
    """The belt: a thin dark strip on the table; "" without a conveyor (the model is then unchanged).

    Its contact is frictionless (``priority`` makes its ``condim="1"`` win over the cube's): the world
    moves cubes on it kinematically (``SimWorld``), and friction would only fight that, slowing the cube by
    μ·g·dt every step.
    """
    c = config.conveyor
    if not c.enabled:
        return ""
    y0, y1 = c.y_range_m
    half = (c.width_m / 2, (y1 - y0) / 2, CONVEYOR_TOP_M)  # from z = -top (inside the table) to +top
    return (
        f'<geom name="{CONVEYOR_NAME}" type="box" pos="{c.center_x_m:.9g} {(y0 + y1) / 2:.9g} 0" '
        f'size="{_f(half)}" rgba="0.22 0.23 0.25 1" priority="1" condim="1" friction="0 0 0" '
        f"{_WORLD_BITS}/>"
    )


def _camera_xml(config: SimConfig) -> str:
    """The camera and a stand below it; the housing sits behind the optical centre, out of view."""
    cam = config.camera
    pos = np.asarray(cam.position_m, float)
    x_axis, y_axis = look_at_xyaxes(pos, np.asarray(cam.look_at_m, float))
    back = np.cross(x_axis, y_axis)  # MuJoCo camera +z points backwards
    housing = pos + 0.03 * back
    floor_z = -0.75
    return (
        f'<camera name="{CAMERA_NAME}" pos="{_f(pos)}" xyaxes="{_f(np.r_[x_axis, y_axis])}" '
        f'fovy="{cam.fovy_deg:.9g}"/>'
        f'<geom type="box" pos="{_f(housing)}" size="0.062 0.013 0.013" '
        f'xyaxes="{_f(np.r_[x_axis, y_axis])}" rgba="0.1 0.1 0.1 1" {_VISUAL_BITS}/>'
        f'<geom type="cylinder" fromto="{_f((*housing[:2], floor_z, *housing[:2], housing[2] - 0.02))}" '
        f'size="0.015" rgba="0.15 0.15 0.15 1" {_VISUAL_BITS}/>'
    )


def _cubes_xml(config: SimConfig) -> str:
    half = config.scene.cube_size_m / 2
    xml = []
    for i, spec in enumerate(cube_specs(config.scene.num_cubes)):
        # Parked in a row until reset() places them; the row keeps a model loaded without reset sane.
        xml.append(
            f'<body name="{spec.name}" pos="{-0.2 - 0.1 * i:.4g} 0.6 {half:.9g}">'
            f'<freejoint name="{spec.name}_free"/>'
            f'<geom name="{spec.name}" type="box" size="{half:.9g} {half:.9g} {half:.9g}" '
            f'mass="{config.scene.cube_mass_kg:.9g}" rgba="{_f(spec.rgba)}" {_WORLD_BITS} '
            f"{_GRIP_CONTACT}/>"
            "</body>"
        )
    return "".join(xml)


def _distractors_xml(config: SimConfig) -> str:
    """Visual-only mocap bodies (contype/conaffinity 0: they never touch the physics)."""
    return "".join(
        f'<body name="{DISTRACTOR_PREFIX}{i}" mocap="true" pos="{_f(DISTRACTOR_PARK_M)}">'
        f'<geom name="{DISTRACTOR_PREFIX}{i}" type="box" size="0.02 0.02 0.02" rgba="0.5 0.5 0.5 1" '
        f"{_VISUAL_BITS}/></body>"
        for i in range(config.scene.num_distractors)
    )


def _actuators_xml() -> str:
    xml = []
    lim = np.asarray(UR10E_JOINT_LIMITS_RAD, float)
    for i, name in enumerate(UR10E_JOINT_NAMES):
        xml.append(
            f'<position name="{name.removesuffix("_joint")}" joint="{name}" kp="{_ARM_KP[i]}" '
            f'kv="{_ARM_KV[i]}" forcerange="{-_ARM_FORCE[i]} {_ARM_FORCE[i]}" '
            f'ctrlrange="{_f(lim[i])}"/>'
        )
    # One servo on the mean finger travel; ≈ 20 N per pad at the 40 N force cap.
    xml.append(
        f'<position name="{GRIPPER_ACTUATOR}" tendon="grip" kp="2000" kv="45" forcerange="-40 40" '
        f'ctrlrange="0 {GRIPPER_STROKE_M}"/>'
    )
    return "\n".join(xml)


def build_mjcf(config: SimConfig) -> str:
    """The full MJCF document for ``config``.

    Args:
        config: the simulator configuration (timestep, camera, number and size of cubes, bin).

    Returns:
        MJCF XML text; compile with ``mujoco.MjModel.from_xml_string``.
    """
    cam = config.camera
    marker = config.calibration_marker
    marker_assets = _marker_assets_xml(marker) if marker.enabled else ""  # off: the MJCF is unchanged
    base_quat = _rot_z_quat(math.atan2(T_BASE_LINK_BASE[1, 0], T_BASE_LINK_BASE[0, 0]))
    return f"""
<mujoco model="visuomotor_ur10e">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{config.timestep_s:.9g}" integrator="implicitfast" cone="elliptic" impratio="10"
          solver="Newton" noslip_iterations="3"/>
  <visual>
    <global offwidth="{cam.width_px}" offheight="{cam.height_px}"/>
    <quality shadowsize="0" offsamples="0"/>
    <map znear="0.01" zfar="50"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.45 0.45 0.45" specular="0.05 0.05 0.05"/>
  </visual>
  <asset>
    <texture name="floor" type="2d" builtin="checker" rgb1="0.42 0.44 0.46" rgb2="0.36 0.38 0.4"
             width="256" height="256"/>
    <material name="floor" texture="floor" texrepeat="20 20"/>
    <material name="table" rgba="0.78 0.72 0.62 1"/>
    <texture name="table_checker" type="2d" builtin="checker" rgb1="0.9 0.9 0.9" rgb2="0.6 0.6 0.6"
             width="64" height="64"/>
    <texture name="table_grain" type="2d" builtin="gradient" rgb1="0.95 0.95 0.95" rgb2="0.55 0.55 0.55"
             width="64" height="64"/>
    <texture name="table_noise" type="2d" builtin="flat" mark="random" random="0.3" rgb1="0.85 0.85 0.85"
             markrgb="0.5 0.5 0.5" width="128" height="128"/>
    <material name="table_checker" texture="table_checker" texrepeat="8 8" rgba="0.78 0.72 0.62 1"/>
    <material name="table_grain" texture="table_grain" texrepeat="1 6" rgba="0.78 0.72 0.62 1"/>
    <material name="table_noise" texture="table_noise" texrepeat="4 4" rgba="0.78 0.72 0.62 1"/>
  {marker_assets}</asset>
  <worldbody>
    <light name="sun" pos="0.5 0.3 3" dir="0 0 -1" directional="true" castshadow="false"
           diffuse="0.5 0.5 0.5"/>
    {_table_xml()}
    {_conveyor_xml(config)}
    {_camera_xml(config)}
    {_bin_xml(config.scene.bin_center_xy_m, config.scene.bin_size_m)}
    <body name="base" quat="{base_quat}">
      <geom type="cylinder" fromto="0 0 0 0 0 0.02" size="0.095" rgba="0.3 0.3 0.32 1" {_VISUAL_BITS}/>
      {_arm_xml(marker)}
    </body>
    {_cubes_xml(config)}
    {_distractors_xml(config)}
  </worldbody>
  <tendon>
    <fixed name="grip">
      <joint joint="{FINGER_JOINTS[0]}" coef="0.5"/>
      <joint joint="{FINGER_JOINTS[1]}" coef="0.5"/>
    </fixed>
  </tendon>
  <equality>
    <joint joint1="{FINGER_JOINTS[0]}" joint2="{FINGER_JOINTS[1]}"/>
  </equality>
  <actuator>
    {_actuators_xml()}
  </actuator>
</mujoco>
"""
