"""Map namespaced ROS parameters onto a flat ``{dotted.key: value}`` dict, and back onto config dataclasses.

One helper instead of per-parameter boilerplate: a node lists its defaults once (usually a core config's
``to_flat_dict()``), and gets back the values from the params file / command line, with unknown keys
rejected by name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from visuomotor.errors import ConfigError

__all__ = ["declare_flat", "reject_unknown_parameters", "resolve_config_path"]


def declare_flat(node: Node, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Declare every key of ``defaults`` as a parameter and return the effective values.

    Lists keep their element type from the default; an empty default list has no element type to keep, so
    it is declared dynamically typed (a params file may give doubles or strings; the config's
    ``from_flat_dict`` checks them). Tuples are returned as lists.
    """
    values: dict[str, Any] = {}
    for key, default in defaults.items():
        value = list(default) if isinstance(default, tuple) else default
        if isinstance(value, list) and not value:
            param = node.declare_parameter(key, None, ParameterDescriptor(dynamic_typing=True))
        else:
            param = node.declare_parameter(key, value)
        got = param.value
        if got is None and isinstance(value, list):  # a typed but unset array parameter
            got = []
        values[key] = list(got) if isinstance(got, list | tuple) else got
    return values


def reject_unknown_parameters(node: Node) -> None:
    """Raise ConfigError naming any parameter given in a params file / command line that no one declared.

    rclpy silently ignores overrides that are never declared; a typo in a YAML key would then leave a
    default in force without a word.
    """
    overrides = getattr(node, "_parameter_overrides", {})
    unknown = sorted(k for k in overrides if not node.has_parameter(k))
    if unknown:
        known = ", ".join(sorted(p for p in node._parameters if p != "use_sim_time"))
        raise ConfigError(
            f"node {node.get_name()!r}: unknown parameter(s) {', '.join(unknown)}; known: {known}"
        )


def resolve_config_path(path: str, kind: str = "config") -> Path:
    """An absolute path as is; a relative one under ., ./config, $VISUOMOTOR_ROOT or the share dir.

    Args:
        path: the file as given in a parameter (e.g. ``extrinsics/sim.yaml``, ``models/yolo.onnx``).
        kind: what it is, for the error message.
    """
    p = Path(path)
    if p.is_absolute():
        return p
    roots = [Path.cwd(), Path.cwd() / "config"]
    if os.environ.get("VISUOMOTOR_ROOT"):
        root = Path(os.environ["VISUOMOTOR_ROOT"])
        roots += [root, root / "config"]
    with contextlib.suppress(PackageNotFoundError):
        share = Path(get_package_share_directory("visuomotor_ros"))
        roots += [share, share / "config"]
    candidates = [r / p for r in roots]
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(f"{kind} file {path!r} not found; looked in: {', '.join(str(c) for c in candidates)}")
