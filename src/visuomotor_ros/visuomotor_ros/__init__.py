"""Thin rclpy nodes around the visuomotor core: parameters, QoS, message conversion, timing."""

__all__: list[str] = []
