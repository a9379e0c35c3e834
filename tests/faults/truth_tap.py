"""The arm's true state, read next to the robot and handed over outside DDS (``netem.TruthTap``).

Runs in the robot's network namespace: subscribes to the sim's joint states there (no impaired link in
between) and writes one line per state on stdout — ``time.monotonic()`` (one clock for every process of
the machine, whatever its namespace), then the six positions and the six velocities in UR10E_JOINT_NAMES
order. The fault tests check commands and the measured arm against THIS state, not against the states that
crossed the impaired link (those are late, or lost, exactly like the commander's).
"""

from __future__ import annotations

import sys
import time

import rclpy
from rclpy.node import Node
from sensor_msgs.msg import JointState

from visuomotor.kinematics import UR10E_JOINT_NAMES
from visuomotor_ros.qos import STATE


def main() -> int:
    topic = sys.argv[1] if len(sys.argv) > 1 else "/sim/joint_states"
    rclpy.init()
    node = Node("truth_tap")
    out = sys.stdout

    def on_joints(msg: JointState) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        values = [msg.position[index[n]] for n in UR10E_JOINT_NAMES]
        values += [msg.velocity[index[n]] for n in UR10E_JOINT_NAMES]
        out.write(f"{time.monotonic():.6f} " + " ".join(f"{v:.9g}" for v in values) + "\n")
        out.flush()

    node.create_subscription(JointState, topic, on_joints, STATE)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
