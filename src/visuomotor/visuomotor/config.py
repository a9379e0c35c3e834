"""Config dataclasses ↔ flat ROS-style parameters, for every stage (one mapping, not one per stage).

ROS 2 flattens a nested params file to dotted names (``camera.fovy_deg``); a stage's config is a frozen
dataclass, possibly with nested dataclasses. :func:`config_from_flat` builds one from dotted keys —
unknown keys, wrong types and out-of-range values raise :class:`ConfigError` naming the dotted key —
and :func:`config_to_flat` is its inverse (tuples as lists, as ROS parameters hold them).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from visuomotor.errors import ConfigError

__all__ = [
    "config_from_flat",
    "config_to_flat",
    "is_number",
    "read_params_file",
    "read_text_file",
    "require_finite",
    "require_int_range",
    "require_interval",
    "require_positive",
    "require_range",
]

C = TypeVar("C")


# ------------------------------------------------------------------------------------- validators
# One vocabulary for every config's __post_init__ and every node's own parameters: each names the key.
def is_number(value: object) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def require_finite(key: str, value: Any) -> float:
    """``value`` as a float if it is a finite number; ConfigError naming ``key`` otherwise."""
    if not is_number(value):
        raise ConfigError(f"{key} must be finite, got {value!r}")
    return float(value)


def require_positive(key: str, value: Any) -> float:
    """``value`` as a float if it is a finite number > 0; ConfigError naming ``key`` otherwise."""
    if not (is_number(value) and value > 0):
        raise ConfigError(f"{key} must be a positive finite number, got {value!r}")
    return float(value)


def require_range(key: str, value: Any, low: float, high: float, unit: str = "") -> float:
    """``value`` as a float if it is a finite number in [low, high]; ConfigError naming ``key`` otherwise."""
    if not (is_number(value) and low <= value <= high):
        unit = f" {unit}" if unit else ""
        raise ConfigError(f"{key} must be a number in [{low:g}, {high:g}]{unit}, got {value!r}")
    return float(value)


def require_int_range(key: str, value: Any, low: int, high: int) -> int:
    """``value`` if it is an int (not a bool) in [low, high]; ConfigError naming ``key`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key} must be an integer in [{low}, {high}], got {value!r}")
    return value


def require_interval(key: str, lo_hi: Any) -> tuple[float, float]:
    """``(min, max)`` if both are finite and min < max; ConfigError naming ``key`` otherwise."""
    lo, hi = lo_hi
    if not (is_number(lo) and is_number(hi) and lo < hi):
        raise ConfigError(f"{key} must be [min, max] with min < max, got {list(lo_hi)}")
    return float(lo), float(hi)


def config_from_flat(cls: type[C], flat: Mapping[str, Any], section: str) -> C:
    """Build ``cls`` from dotted keys; missing keys keep their defaults.

    Lists are accepted for tuple fields and ints for floats (params files write ``1`` for ``1.0``);
    nested mappings (as ``yaml.safe_load`` returns them) are flattened to dotted keys first.

    Args:
        cls: a dataclass type whose fields are bool/int/float/str, tuples of those, or dataclasses.
        flat: ``{"dotted.key": value}``.
        section: the config's name in messages (e.g. ``"sim"``, ``"tracker"``).

    Raises:
        ConfigError: naming the key.
    """
    if not isinstance(flat, Mapping):
        raise ConfigError(
            f"{section} parameters must be a mapping of name → value, got {type(flat).__name__}"
        )
    return _build(cls, _dotted(flat, "", section), "", section)


def config_to_flat(config: Any) -> dict[str, Any]:
    """The inverse of :func:`config_from_flat`: dotted keys, tuples as lists."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out.update({f"{f.name}.{k}": v for k, v in config_to_flat(value).items()})
        else:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def read_params_file(path: str | Path, node: str, *, required: bool = True) -> dict[str, Any]:
    """The ``<node>: ros__parameters:`` section of a ROS params file as dotted keys (``{}`` if absent).

    For the command-line tools, which build the same configs the nodes do without ROS.

    Raises:
        ConfigError: the file is missing or unreadable, or (``required``) has no such section.
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8")) or {}
    except OSError as err:
        raise ConfigError(
            f"params file {path} cannot be read ({err}); pass an existing config/*.yaml"
        ) from err
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"params file {path} is not UTF-8 text (byte {err.start}: {err.reason}); save it as UTF-8"
        ) from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"params file {path} is not valid YAML{where}: {problem}") from err
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"params file {path}: expected `{node}: ros__parameters:`, got a {type(data).__name__}"
        )
    body = data.get(node, {})
    section = body.get("ros__parameters") if isinstance(body, Mapping) else None
    if section is None:
        if required:
            raise ConfigError(f"{path} has no `{node}: ros__parameters:` section")
        return {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path}: `{node}: ros__parameters:` must be a mapping")
    return _dotted(section, "", node)


def read_text_file(path: str | Path, what: str) -> str:
    """The UTF-8 text of a user-given file, or ConfigError naming it (missing, unreadable, not UTF-8)."""
    path = Path(path)
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(f"{what} {path} cannot be read ({err.strerror or err})") from err
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{what} {path} is not UTF-8 text (byte {err.start}: {err.reason}); save it as UTF-8"
        ) from err


def _dotted(tree: Mapping[str, Any], prefix: str, section: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if not isinstance(key, str):
            raise ConfigError(f"{section} parameter names must be strings, got {prefix}{key!r}")
        if isinstance(value, Mapping):
            out.update(_dotted(value, f"{prefix}{key}.", section))
        else:
            out[prefix + key] = value
    return out


def _build(cls: type, flat: dict[str, Any], prefix: str, section: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # declaration order: errors come in a fixed order
    nested = {n for n in names if dataclasses.is_dataclass(hints[n])}
    for key in flat:
        head = key.split(".", 1)[0]
        if head not in names or (head in nested) != ("." in key):
            known = ", ".join(sorted(prefix + k for k in config_to_flat(cls())))
            raise ConfigError(f"unknown {section} parameter {prefix + key!r}; known keys: {known}")
    kwargs: dict[str, Any] = {}
    for name in names:
        if name in nested:
            sub = {k.split(".", 1)[1]: v for k, v in flat.items() if k.split(".", 1)[0] == name}
            kwargs[name] = _build(hints[name], sub, f"{prefix}{name}.", section)
        elif name in flat:
            kwargs[name] = _coerce(f"{section}: {prefix}{name}", flat[name], hints[name])
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid {section} parameters under {prefix or 'the root'!r}: {err}") from err


def _coerce(key: str, value: Any, hint: Any) -> Any:
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        if Ellipsis not in args and len(value) != len(args):
            raise ConfigError(f"{key} must have {len(args)} entries, got {len(value)}: {list(value)}")
        return tuple(_coerce(f"{key}[{i}]", v, args[0]) for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            # ROS params files turn an all-digit value (a camera serial) into an int unless it is quoted.
            raise ConfigError(
                f"{key} must be a string (quote it in YAML if it is all digits), got {value!r}"
            )
        return value
    raise ConfigError(f"{key}: unsupported field type {hint!r}")  # a programming error, named anyway
