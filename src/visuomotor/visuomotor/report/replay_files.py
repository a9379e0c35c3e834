"""Read and check a replay's files: ``result.json`` and ``timing.json`` (or an earlier ``report.json``).

The report is computed from these files alone, never from the replay's objects, so any directory written
by ``visuomotor.replay`` (today's run, an earlier one, a colleague's) can be reported and compared. Every
structural problem is reported with the file, the JSON path and the fix, before any metric is computed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visuomotor.report.errors import ReportError

__all__ = [
    "REPORT_SCHEMA",
    "RESULT_SCHEMA",
    "TIMING_SCHEMA",
    "ReplayRun",
    "ReportError",
    "is_run_directory",
    "load_run",
]

RESULT_SCHEMA = "visuomotor.replay/1"
TIMING_SCHEMA = "visuomotor.replay-timing/1"
REPORT_SCHEMA = "visuomotor.report/1"

RESULT_FILE = "result.json"
TIMING_FILE = "timing.json"
REPORT_FILE = "report.json"

_REPLAY_FIX = "replay the bag again with `visuomotor eval BAG --report DIR` (it writes both files)"


# -- a tiny structural schema: a type, a {key: spec} mapping, _List(spec) or _Nullable(spec) -------------


@dataclass(frozen=True, slots=True)
class _List:
    item: Any
    length: int | None = None


@dataclass(frozen=True, slots=True)
class _Nullable:
    spec: Any


_NUMBER = (int, float)
_POSITION = _List(_NUMBER, 3)
_BOX = _List(_NUMBER, 4)
_SPAN = {"start_ns": int, "end_ns": int}

_RESULT_SPEC = {
    "schema": str,
    "bag": str,
    # Camera numbers are null when the replay read no frame.
    "camera": {
        k: _Nullable(int if k in ("width", "height") else _NUMBER)
        for k in ("width", "height", "fx", "fy", "cx", "cy")
    },
    "frames": _List(
        {
            "index": int,
            "stamp_ns": int,
            "detections": _List({"class_name": str, "score": _NUMBER, "box_px": _BOX}),
            "objects": _List({"class_name": str, "position_m": _POSITION}),
            "tracks": _List(
                {"track_id": (int, str), "class_name": str, "state": (int, str), "position_m": _POSITION}
            ),
            "ground_truth": _Nullable(
                _List({"name": str, "class_name": str, "position_m": _POSITION, "box_px": _Nullable(_BOX)})
            ),
        }
    ),
    "dropped_frames": int,
    "skipped": dict,
    "policy": _Nullable({"status": _List(str), "rejections": dict}),
}

_TIMING_SPEC = {
    "schema": str,
    "stages": _List(str),
    "frames": _List({"index": int, "stamp_ns": int, "stages": dict}),
    "recorded_trails": _List(
        {"stamp_ns": int, "stages": _List({"stage": str, "start_ns": int, "end_ns": int})}
    ),
}


def _type_name(spec: Any) -> str:
    if isinstance(spec, tuple):
        return " or ".join(_type_name(s) for s in spec)
    return {int: "an integer", float: "a number", str: "a string", dict: "an object"}.get(spec, str(spec))


def _check(value: Any, spec: Any, where: str, file: Path) -> None:
    """Raise :class:`ReportError` naming ``file`` and the JSON path ``where`` if ``value`` misses ``spec``."""

    def fail(what: str) -> ReportError:
        return ReportError(f"{file}: {where} {what}; the file is not a complete replay output: {_REPLAY_FIX}")

    if isinstance(spec, _Nullable):
        if value is not None:
            _check(value, spec.spec, where, file)
        return
    if isinstance(spec, _List):
        if not isinstance(value, list):
            raise fail(f"must be a list, got {type(value).__name__}")
        if spec.length is not None and len(value) != spec.length:
            raise fail(f"must have {spec.length} entries, got {len(value)}")
        for i, item in enumerate(value):
            _check(item, spec.item, f"{where}[{i}]", file)
        return
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise fail(f"must be an object, got {type(value).__name__}")
        for key, sub in spec.items():
            if key not in value:
                raise fail(f"has no {key!r}")
            _check(value[key], sub, f"{where}.{key}", file)
        return
    types = spec if isinstance(spec, tuple) else (spec,)
    if isinstance(value, bool) or not isinstance(value, types):  # JSON true/false is not a number here
        raise fail(f"must be {_type_name(spec)}, got {value!r}")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ReportError(f"{path} is not valid JSON ({err}): {_REPLAY_FIX}") from err
    except OSError as err:
        raise ReportError(f"cannot read {path} ({err}): check the path and its permissions") from err


def _check_schema(data: Any, expected: str, path: Path) -> None:
    found = data.get("schema") if isinstance(data, dict) else None
    if found != expected:
        raise ReportError(
            f"{path} has schema {found!r}, expected {expected!r}: it was written by another tool or version; "
            f"{_REPLAY_FIX}"
        )


@dataclass(frozen=True, slots=True)
class ReplayRun:
    """One replay's files, checked.

    Attributes:
        directory: where the files were read.
        result: the parsed ``result.json``, or None for a run known only from its ``report.json``.
        timing: the parsed ``timing.json``, or None when the run has none (latency is then not available).
        report: a parsed earlier ``report.json``, used only when there is no ``result.json``.
    """

    directory: Path
    result: Mapping[str, Any] | None
    timing: Mapping[str, Any] | None
    report: Mapping[str, Any] | None = None

    @property
    def label(self) -> str:
        """The bag's name as the replay recorded it, else the directory's name."""
        if self.result is not None:
            return str(self.result["bag"])
        if self.report is not None:
            return str(self.report.get("run", {}).get("bag", self.directory.name))
        return self.directory.name


def is_run_directory(path: Path) -> bool:
    """Whether ``path`` is a directory holding a replay's ``result.json`` or a ``report.json``."""
    return path.is_dir() and ((path / RESULT_FILE).is_file() or (path / REPORT_FILE).is_file())


def load_run(directory: Path, allow_report_only: bool = False) -> ReplayRun:
    """Read and check the replay files in ``directory``.

    Args:
        directory: a directory written by ``ReplayRun.write`` (``result.json`` + ``timing.json``), or
            with ``allow_report_only`` one holding only an earlier ``report.json``.
        allow_report_only: accept a directory with a ``report.json`` and no ``result.json`` (compare mode).

    Raises:
        ReportError: missing directory or ``result.json``, invalid JSON, wrong schema or a missing field;
            the message names the file, the JSON path and the fix.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ReportError(
            f"{directory} is not a directory: pass the directory a replay wrote (holding {RESULT_FILE} and "
            f"{TIMING_FILE}), or {_REPLAY_FIX}"
        )
    result_path, timing_path = directory / RESULT_FILE, directory / TIMING_FILE
    if not result_path.is_file():
        report_path = directory / REPORT_FILE
        if allow_report_only and report_path.is_file():
            report = _read_json(report_path)
            _check_schema(report, REPORT_SCHEMA, report_path)
            return ReplayRun(directory, None, None, report)
        raise ReportError(
            f"{directory} has no {RESULT_FILE}: point at a directory written by the offline replay, or "
            f"{_REPLAY_FIX}"
        )
    result = _read_json(result_path)
    _check_schema(result, RESULT_SCHEMA, result_path)
    _check(result, _RESULT_SPEC, "result", result_path)
    timing = None
    if timing_path.is_file():
        timing = _read_json(timing_path)
        _check_schema(timing, TIMING_SCHEMA, timing_path)
        _check(timing, _TIMING_SPEC, "timing", timing_path)
        for i, frame in enumerate(timing["frames"]):
            for stage, span in frame["stages"].items():
                _check(span, _SPAN, f"timing.frames[{i}].stages.{stage}", timing_path)
    return ReplayRun(directory, result, timing)
