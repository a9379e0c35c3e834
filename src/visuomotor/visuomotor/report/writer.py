"""Write a report directory: ``report.json``, ``index.html``, ``trace.json`` and the figures (PNG)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visuomotor.report.errors import ReportError
from visuomotor.report.metrics import RunMetrics, compute_metrics, format_value, report_dict
from visuomotor.report.page import render_page
from visuomotor.report.plots import write_plots
from visuomotor.report.replay_files import REPORT_FILE, load_run
from visuomotor.report.trace import trace_events

__all__ = ["ReportFiles", "summary_lines", "write_report"]


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """What :func:`write_report` wrote.

    Attributes:
        directory: the report directory.
        report: the dict written to ``report.json``.
        plots: figure file names (relative to ``directory``) → captions.
    """

    directory: Path
    report: dict[str, Any]
    plots: dict[str, str]

    @property
    def index_html(self) -> Path:
        return self.directory / "index.html"

    @property
    def report_json(self) -> Path:
        return self.directory / REPORT_FILE

    @property
    def trace_json(self) -> Path:
        return self.directory / "trace.json"


def write_report(run_dir: Path, out_dir: Path, compare_dir: Path | None = None) -> ReportFiles:
    """Compute the report of the replay in ``run_dir`` and write it to ``out_dir``.

    Args:
        run_dir: directory with the replay's ``result.json`` and ``timing.json``.
        out_dir: report directory (created; may be ``run_dir``).
        compare_dir: another run (``result.json``/``timing.json``, or an earlier report's ``report.json``)
            shown side by side: two columns in every table, overlaid figures.

    Raises:
        ReportError: a run's files are missing or malformed, or ``out_dir`` cannot be written.
    """
    main = compute_metrics(load_run(Path(run_dir)))
    other: RunMetrics | None = None
    if compare_dir is not None:
        other = compute_metrics(load_run(Path(compare_dir), allow_report_only=True))
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        runs = [main] if other is None else [main, other]
        plots = write_plots(runs, out)
        report = report_dict(main, other, plots)
        (out / REPORT_FILE).write_text(
            json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (out / "trace.json").write_text(json.dumps(trace_events(runs)) + "\n", encoding="utf-8")
        (out / "index.html").write_text(render_page(report, plots), encoding="utf-8")
    except OSError as err:
        raise ReportError(f"cannot write the report to {out} ({err}): pass a writable --report DIR") from err
    return ReportFiles(out, report, plots)


def summary_lines(report: Mapping[str, Any]) -> list[str]:
    """A few lines for the terminal: end-to-end latency, mAP, 3D error, tracking and policy.

    Sections missing from ``report`` (an older report.json) are left out.
    """
    run = report.get("run", {})
    lines = [
        f"{run.get('bag', '?')}: {run.get('frames', '?')} frames, {run.get('dropped_frames', '?')} dropped"
    ]
    for source in ("offline", "live"):
        lat = report.get("latency", {}).get(source, {})
        e2e = lat.get("end_to_end") if lat.get("available") else None
        if e2e:
            stats = "  ".join(f"{q} {format_value(e2e[f'{q}_ms'])}" for q in ("p50", "p95", "p99"))
            lines.append(f"  {source} end to end ms: {stats}")
    det, loc, trk, pol = (report.get(k, {}) for k in ("detection", "localisation", "tracking", "policy"))
    if det.get("available"):
        lines.append(
            f"  detection mAP50 {format_value(det['map50'])}  mAP50-95 {format_value(det['map50_95'])}"
        )
    if loc.get("available"):
        lines.append(
            f"  3D error mm: median {format_value(loc['median_mm'])}  p95 {format_value(loc['p95_mm'])}"
        )
    if trk.get("available"):
        lines.append(
            f"  tracking MOTA {format_value(trk['mota'])}  IDF1 {format_value(trk['idf1'])}  "
            f"HOTA {format_value(trk['hota'])}  ID switches {trk['id_switches']}"
        )
    if pol.get("available"):
        lines.append(f"  policy {pol['outcome']}, {pol['rejections_total']} safety rejections")
    return lines
