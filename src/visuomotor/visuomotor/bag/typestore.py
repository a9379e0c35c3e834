"""Message types for bags: the ROS 2 Kilted standard types plus ``visuomotor_interfaces``, without rclpy.

rosbags serialises and hashes messages from a :class:`~rosbags.typesys.store.Typestore`. Ours starts from
the Kilted store (the distribution this workspace runs; its ``sensor_msgs``/``std_msgs`` definitions equal
Jazzy's) and registers the ``.msg`` files of ``visuomotor_interfaces``, so bags carry the exact definitions
and RIHS01 hashes that ``rosidl`` generates (``tests/unit/bag`` checks the hashes against the build). Types
that are neither — another package's messages met by the recorder, or a bag's own embedded definitions —
are added on demand by :func:`ensure_type`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, TypesysError, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from visuomotor.bag.errors import BagError

__all__ = [
    "INTERFACES_PACKAGE",
    "STORE",
    "bag_typestore",
    "ensure_type",
    "interface_msg_dir",
]

#: The rosbags store our types extend (the workspace runs ROS 2 Kilted).
STORE = Stores.ROS2_KILTED
INTERFACES_PACKAGE = "visuomotor_interfaces"

# src/visuomotor/visuomotor/bag/typestore.py → src/visuomotor_interfaces/msg (a source checkout).
_SOURCE_MSG_DIR = Path(__file__).resolve().parents[3] / INTERFACES_PACKAGE / "msg"


def _ament_prefixes() -> list[Path]:
    return [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]


def interface_msg_dir() -> Path:
    """Directory of the ``visuomotor_interfaces`` ``.msg`` files: the source tree, else an installed share/.

    Raises:
        BagError: neither exists (the message says where it looked).
    """
    candidates = [_SOURCE_MSG_DIR] + [p / "share" / INTERFACES_PACKAGE / "msg" for p in _ament_prefixes()]
    for c in candidates:
        if any(c.glob("*.msg")):
            return c
    raise BagError(
        f"no {INTERFACES_PACKAGE} .msg files found (looked in {', '.join(map(str, candidates))}): "
        "run from a source checkout or source the built workspace (scripts/env.sh)"
    )


@functools.cache
def _interface_types() -> dict[str, Any]:
    msg_dir = interface_msg_dir()
    types: dict[str, Any] = {}
    for path in sorted(msg_dir.glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"{INTERFACES_PACKAGE}/msg/{path.stem}"))
    return types


def bag_typestore() -> Typestore:
    """A fresh typestore: Kilted standard types + ``visuomotor_interfaces`` (callers may register more)."""
    store = get_typestore(STORE)
    store.register(_interface_types())
    return store


def _referenced_names(fields: list[tuple[str, Any]]) -> set[str]:
    """Type names a parsed message refers to (through arrays and sequences too)."""
    names = set()
    for _, desc in fields:
        node, arg = desc
        if node in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            node, arg = arg[0]
        if node == Nodetype.NAME:
            names.add(arg)
    return names


def _msg_file(msgtype: str) -> Path | None:
    pkg, _, name = msgtype.partition("/msg/")
    if not name:
        return None
    for prefix in _ament_prefixes():
        path = prefix / "share" / pkg / "msg" / f"{name}.msg"
        if path.is_file():
            return path
    return None


def ensure_type(store: Typestore, msgtype: str, msgdef: str = "") -> None:
    """Make ``msgtype`` (``pkg/msg/Name``) known to ``store``.

    Known types stay as they are. Otherwise ``msgdef`` (a ``ros2msg`` definition as bags embed it, the type
    first and its dependencies after ``MSG:`` separators) is parsed; without one, the ``.msg`` files are
    looked up under ``$AMENT_PREFIX_PATH/share/<pkg>/msg/``, dependencies included.

    Raises:
        BagError: the definition is missing or malformed; the message names the type.
    """
    if msgtype in store.fielddefs:
        return
    try:
        if msgdef:
            types = get_types_from_msg(msgdef, msgtype)
        else:
            types = {}
            todo = [msgtype]
            while todo:
                name = todo.pop()
                if name in types or name in store.fielddefs:
                    continue
                path = _msg_file(name)
                if path is None:
                    raise BagError(
                        f"no definition of message type {name!r}: install its package and source its "
                        "workspace (its .msg file is looked up under $AMENT_PREFIX_PATH/share/<pkg>/msg/)"
                    )
                parsed = get_types_from_msg(path.read_text(), name)
                types.update(parsed)
                todo += [n for _, fields in parsed.values() for n in _referenced_names(fields)]
        store.register({k: v for k, v in types.items() if k not in store.fielddefs})
    except TypesysError as err:
        raise BagError(f"cannot use the definition of {msgtype!r}: {err}") from err
