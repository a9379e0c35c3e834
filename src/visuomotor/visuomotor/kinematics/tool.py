"""The cell's tool on the UR10e flange: where the TCP is (the robot's geometry, not the simulator's).

The gripper is a parallel-jaw gripper whose TCP is the point midway between the pads, 0.16 m out along the
flange z axis, tool axes along the flange's. The sim builds its gripper from this offset and the
commander's default ``tool_offset_z_m`` is this value, so IK, the safety checks, the policy's forward
kinematics and the sim agree on one TCP.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TCP_OFFSET_M", "T_FLANGE_TCP"]

#: Flange → TCP distance along the flange z axis, metres.
TCP_OFFSET_M = 0.16
#: Flange → TCP: the point midway between the pads, tool z along flange z (no rotation).
T_FLANGE_TCP = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, TCP_OFFSET_M], [0, 0, 0, 1.0]])
T_FLANGE_TCP.setflags(write=False)
