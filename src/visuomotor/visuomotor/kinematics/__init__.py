"""Kinematics of the UR10e: forward kinematics and the closed-form (analytic) inverse kinematics.

Frames: the public API speaks ``base_link`` (the URDF root used by ROS); the DH chain and the controller use
``base`` = ``base_link`` rotated by π about z (``T_BASE_LINK_BASE``). ``Ur10eKinematics.inverse`` returns all
(≤ 8) solutions inside the joint limits, ``nearest`` the one closest to the current joints with wrap-around
and jump rejection.
"""

from visuomotor.kinematics.dh import DhParameters, forward_dh, forward_dh_batch
from visuomotor.kinematics.errors import IkJumpError, KinematicsInputError
from visuomotor.kinematics.tool import T_FLANGE_TCP, TCP_OFFSET_M
from visuomotor.kinematics.ur10e import (
    T_BASE_LINK_BASE,
    UR10E_DH,
    UR10E_JOINT_LIMITS_RAD,
    UR10E_JOINT_NAMES,
    Ur10eKinematics,
    base_from_base_link,
    base_link_from_base,
)

__all__ = [
    "TCP_OFFSET_M",
    "T_BASE_LINK_BASE",
    "T_FLANGE_TCP",
    "UR10E_DH",
    "UR10E_JOINT_LIMITS_RAD",
    "UR10E_JOINT_NAMES",
    "DhParameters",
    "IkJumpError",
    "KinematicsInputError",
    "Ur10eKinematics",
    "base_from_base_link",
    "base_link_from_base",
    "forward_dh",
    "forward_dh_batch",
]
