"""Offline evaluation report of a replayed bag: numbers, figures, an HTML page and a stage trace.

Computed from a replay's files only (``result.json`` + ``timing.json`` written by ``visuomotor.replay``):
latency per stage, transport and end to end (offline and as recorded live), dropped frames, detection
mAP (faster-coco-eval), 3D localisation error, tracking MOTA/IDF1/HOTA (trackeval), policy outcome and
safety rejections. :func:`write_report` writes ``report.json``, ``index.html``, ``trace.json`` (Chrome /
Perfetto) and PNG figures; with a second run the two sit side by side.
"""

from visuomotor.report.errors import ReportError
from visuomotor.report.metrics import RunMetrics, compute_metrics, format_value, lookup
from visuomotor.report.replay_files import (
    REPORT_SCHEMA,
    RESULT_SCHEMA,
    TIMING_SCHEMA,
    ReplayRun,
    is_run_directory,
    load_run,
)
from visuomotor.report.tracking import TrackingFrame, TrackingScores, score_tracking
from visuomotor.report.writer import ReportFiles, summary_lines, write_report

__all__ = [
    "REPORT_SCHEMA",
    "RESULT_SCHEMA",
    "TIMING_SCHEMA",
    "ReplayRun",
    "ReportError",
    "ReportFiles",
    "RunMetrics",
    "TrackingFrame",
    "TrackingScores",
    "compute_metrics",
    "format_value",
    "is_run_directory",
    "load_run",
    "lookup",
    "score_tracking",
    "summary_lines",
    "write_report",
]
