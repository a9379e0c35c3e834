"""Named QoS profiles, in one place (as Nav2 does).

- ``SENSOR``: images and camera_info — best effort, keep last 2 (realsense2_camera's sensor-data QoS).
- ``STATE``: joint states, ground truth, pipeline outputs — reliable, keep last 10, volatile.
- ``COMMAND``: arm/gripper commands — reliable, keep last 10 (the UR driver's controllers subscribe reliable).
- ``LATCHED``: e-stop and one-shot status — reliable, transient local, keep last 1.
- ``CLOCK``: /clock — best effort keep last 1 like rosgraph's clock QoS.
- ``ESTOP_SUBSCRIPTIONS``: the e-stop is subscribed three times so that EVERY publisher matches: a
  transient-local subscription can only match transient-local publishers (and gets their latched value),
  a reliable one only reliable publishers; a volatile best-effort one matches any publisher (``ros2 topic
  pub``, Foxglove, a latched button node) but may lose a sample on a lossy link. Duplicates are harmless:
  engaging is idempotent and a release is acted on once.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

__all__ = ["CLOCK", "COMMAND", "ESTOP_SUBSCRIPTIONS", "LATCHED", "SENSOR", "STATE", "sensor_qos"]


def sensor_qos(depth: int = 2) -> QoSProfile:
    """Best-effort keep-last-``depth`` profile for camera streams."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


SENSOR = sensor_qos(2)
STATE = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
COMMAND = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
LATCHED = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
CLOCK = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)

ESTOP_SUBSCRIPTIONS: tuple[QoSProfile, ...] = (
    LATCHED,  # reliable + transient local: latched publishers, including a value published before we started
    STATE,  # reliable + volatile: every reliable publisher, delivered reliably
    QoSProfile(  # best effort + volatile: matches any publisher at all
        history=HistoryPolicy.KEEP_LAST,
        depth=10,
        reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    ),
)
