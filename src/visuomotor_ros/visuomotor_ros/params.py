"""Map namespaced ROS parameters onto a flat ``{dotted.key: value}`` dict, and back onto config dataclasses.

One helper instead of per-parameter boilerplate: a node lists its defaults once (usually a core config's
``to_flat_dict()``), and gets back the values from the params file / command line, with unknown keys
rejected by name. Parameters are read-only once declared: every node reads them once at start, so a
``set_parameters`` call that "succeeded" would leave the node running on the old value without a word.

Params files are checked before rcl reads them (:func:`load_params_file`: UTF-8, YAML, one
``<node>: ros__parameters:`` mapping per section, one line naming the file and the problem) and against
the node that runs (:func:`check_params_file_sections`): a section for no node of this project is a typo.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from visuomotor.config import require_range
from visuomotor.errors import ConfigError

__all__ = [
    "PROJECT_NODE_NAMES",
    "check_params_file_sections",
    "declare_flat",
    "load_params_file",
    "parameter_source",
    "params_files_in",
    "reject_unknown_parameters",
    "require_range",
    "resolve_config_path",
    "section_matches",
]

_LOG = logging.getLogger(__name__)

#: Every node name of this project (``visuomotor_ros``): a params-file section naming none of these (and no
#: wildcard) is a typo such as ``commandr:``.
PROJECT_NODE_NAMES: tuple[str, ...] = (
    "camera",
    "commander",
    "detector",
    "latency_monitor",
    "localiser",
    "overlay",
    "perception",
    "policy",
    "recorder",
    "replay",
    "scripted_pick",
    "sim",
    "tracker",
)


def declare_flat(node: Node, defaults: Mapping[str, Any], *, read_only: bool = True) -> dict[str, Any]:
    """Declare every key of ``defaults`` as a parameter and return the effective values.

    Lists keep their element type from the default; an empty default list has no element type to keep, so
    it is declared dynamically typed (a params file may give doubles or strings; the config's
    ``from_flat`` checks them). Tuples are returned as lists.

    Args:
        node: the node to declare on.
        defaults: ``{dotted.key: default}``.
        read_only: declare them read-only (default): the node reads them once, so a later
            ``set_parameters`` is refused ("parameter is read-only") instead of "succeeding" with no effect.
            Pass False only for parameters the node applies live through a validating callback.
    """
    values: dict[str, Any] = {}
    for key, default in defaults.items():
        value = list(default) if isinstance(default, tuple) else default
        if isinstance(value, list) and not value:
            descriptor = ParameterDescriptor(dynamic_typing=True, read_only=read_only)
            param = node.declare_parameter(key, None, descriptor)
        else:
            param = node.declare_parameter(key, value, ParameterDescriptor(read_only=read_only))
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


# ---------------------------------------------------------------------------------------- params files
def params_files_in(argv: Sequence[str]) -> list[Path]:
    """The ``--params-file`` paths among the ``--ros-args`` of ``argv``, in order."""
    files: list[Path] = []
    in_ros_args = False
    it = iter(argv)
    for arg in it:
        if arg == "--ros-args":
            in_ros_args = True
        elif arg == "--":
            in_ros_args = False
        elif in_ros_args and arg == "--params-file":
            path = next(it, None)
            if path is not None:
                files.append(Path(path))
    return files


def load_params_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read and check a ROS params file: ``{section: {dotted.key: value}}``.

    Raises:
        ConfigError: one line naming the file: unreadable, not UTF-8, not YAML (with the line), empty, not a
            mapping of ``<node>: {ros__parameters: {...}}`` sections.
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(f"params file {path}: cannot be read ({err.strerror or err})") from err
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"params file {path}: not UTF-8 text (byte {err.start}: {err.reason}); save it as UTF-8"
        ) from err
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"params file {path}: not valid YAML{where}: {problem}") from err
    if doc is None:
        raise ConfigError(
            f"params file {path}: empty; expected `<node name>: ros__parameters: {{...}}` sections"
        )
    if not isinstance(doc, Mapping):
        raise ConfigError(
            f"params file {path}: expected `<node name>: ros__parameters: {{...}}` sections, got a "
            f"{type(doc).__name__} ({str(doc)[:40]!r})"
        )
    sections: dict[str, dict[str, Any]] = {}
    for name, body in doc.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"params file {path}: section name {name!r} is not a node name")
        params = body.get("ros__parameters") if isinstance(body, Mapping) else None
        if not isinstance(params, Mapping):
            raise ConfigError(
                f"params file {path}: section {name!r} needs a `ros__parameters:` mapping (got {body!r:.60})"
            )
        sections[name] = _flatten(params, "", path, name)
    return sections


def _flatten(tree: Mapping[Any, Any], prefix: str, path: Path, section: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if not isinstance(key, str):
            raise ConfigError(
                f"params file {path}: {section}: parameter name {prefix}{key!r} is not a string"
            )
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}.", path, section))
        else:
            out[prefix + key] = value
    return out


def section_matches(section: str, node_fqn: str) -> bool:
    """Whether a params-file section name (``commander``, ``/commander``, ``/**``, ``/ns/*``) names the node
    with fully qualified name ``node_fqn`` (rcl's rules: ``*`` one name token, ``**`` any number)."""
    key = section if section.startswith("/") else "/" + section
    pattern = ""
    for token in key.strip("/").split("/"):
        if token == "**":
            pattern += "(/[^/]+)*"
        else:
            pattern += "/" + re.escape(token).replace(r"\*", "[^/]*")
    return re.fullmatch(pattern or "/", node_fqn) is not None


def check_params_file_sections(
    files: Mapping[Path, Mapping[str, Any]], node_fqns: Iterable[str]
) -> list[str]:
    """Check each params file names a node this process runs; return warnings for shared override files.

    A file that names none of the process's nodes is an error if any of its sections names no node of
    this project (a typo like ``commandr:`` would otherwise leave the defaults in force, live, without a
    word); a file whose sections all name other nodes of this project (a cell overrides file layered onto
    every process by ``pipeline.launch.py``) gives a warning line instead.

    Raises:
        ConfigError: naming the file, its sections and the node(s) this process runs.
    """
    fqns = list(node_fqns)
    names = [f.rsplit("/", 1)[-1] for f in fqns]
    warnings = []
    for path, sections in files.items():
        if any(section_matches(s, f) for s in sections for f in fqns):
            continue
        unknown = [s for s in sections if s.strip("/").rsplit("/", 1)[-1] not in PROJECT_NODE_NAMES]
        listed = ", ".join(repr(s) for s in sections)
        if unknown:
            typo = unknown[0].strip("/").rsplit("/", 1)[-1]
            hint = difflib.get_close_matches(typo, PROJECT_NODE_NAMES, n=1)
            raise ConfigError(
                f"params file {path}: its section(s) {listed} name no node this process runs "
                f"({', '.join(names)})" + (f"; did you mean {hint[0]!r}?" if hint else "")
            )
        warnings.append(
            f"params file {path} has no section for {', '.join(names)} (it names {listed}); nothing in it "
            "applies here"
        )
    return warnings


def parameter_source(files: Mapping[Path, Mapping[str, Any]], node_fqn: str, key: str) -> Path | None:
    """The last params file that sets ``key`` for the node (rcl applies files in order), or None."""
    found = None
    for path, sections in files.items():
        if any(section_matches(s, node_fqn) and key in params for s, params in sections.items()):
            found = path
    return found
