"""visuomotor core: camera → detect → localise → track → policy → IK + safety, without ROS.

Every stage is a plain class with typed dataclass inputs and outputs. This package never imports
rclpy; the ROS wrappers live in ``visuomotor_ros``.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
