"""``index.html``: the report as one plain, self-contained page (inline CSS, figures by relative path).

Every number on the page is formatted by :func:`~visuomotor.report.metrics.format_value` from the same
dict that is written to ``report.json``, and its element carries ``data-key`` = the value's dotted path
in that file (``compare.`` in front for the compared run), so the two can be checked against each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from visuomotor.report.metrics import format_value, lookup

__all__ = ["render_page"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.8em; }
h3 { font-size: 1.05em; margin-bottom: .3em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.missing { color: #aaa; text-align: center; }
p.na { color: #8a5a00; background: #fff7e6; padding: .4em .7em; border-left: 3px solid #e0a030; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
div.wide { overflow-x: auto; }
.runs span { display: inline-block; margin-right: 1.5em; }
"""

#: (row label, key under the section) of the scalar tables.
_RUN_ROWS = [
    ("frames replayed", "frames"),
    ("frames with ground truth", "frames_with_ground_truth"),
    ("dropped frames", "dropped_frames"),
    ("skipped detections (total)", "skipped_total"),
    ("image width (px)", "camera.width"),
    ("image height (px)", "camera.height"),
    ("fx (px)", "camera.fx"),
    ("fy (px)", "camera.fy"),
    ("cx (px)", "camera.cx"),
    ("cy (px)", "camera.cy"),
]
_LATENCY_ROWS = [
    ("frames timed", "frames"),
    ("frames through every stage", "complete_frames"),
    ("invalid trails (left out)", "invalid_trails"),
]
_LATENCY_COLUMNS = [
    ("count", "count"),
    ("p50 ms", "p50_ms"),
    ("p95 ms", "p95_ms"),
    ("p99 ms", "p99_ms"),
    ("mean ms", "mean_ms"),
    ("max ms", "max_ms"),
    ("min ms", "min_ms"),
]
_DETECTION_ROWS = [
    ("mAP50", "map50"),
    ("mAP50-95", "map50_95"),
    ("images", "images"),
    ("ground-truth boxes", "instances"),
    ("detections", "detections"),
]
_AP_COLUMNS = [("AP50", "ap50"), ("AP50-95", "ap50_95"), ("instances", "instances")]
_LOCALISATION_ROWS = [
    ("matched objects", "matched"),
    ("median error (mm)", "median_mm"),
    ("p95 error (mm)", "p95_mm"),
    ("mean error (mm)", "mean_mm"),
    ("max error (mm)", "max_mm"),
    ("unmatched objects", "unmatched_objects"),
    ("unmatched ground truth", "unmatched_ground_truth"),
    ("match gate (mm)", "max_match_distance_mm"),
]
_ERROR_COLUMNS = [
    ("matched", "matched"),
    ("median mm", "median_mm"),
    ("p95 mm", "p95_mm"),
    ("mean mm", "mean_mm"),
    ("max mm", "max_mm"),
]
_TRACKING_ROWS = [
    ("MOTA", "mota"),
    ("IDF1", "idf1"),
    ("HOTA", "hota"),
    ("ID switches", "id_switches"),
    ("false positives", "false_positives"),
    ("false negatives", "false_negatives"),
    ("frames", "frames"),
    ("ground-truth identities", "gt_ids"),
    ("track identities", "track_ids"),
    ("similarity scale (m)", "similarity_scale_m"),
]
_POLICY_ROWS = [
    ("outcome", "outcome"),
    ("success", "success"),
    ("final status", "final_status"),
    ("status messages", "status_messages"),
    ("safety rejections (total)", "rejections_total"),
]


class _Run:
    """One column of the page: a run's numbers and the ``data-key`` prefix of its values."""

    def __init__(self, label: str, numbers: Mapping[str, Any], prefix: str) -> None:
        self.label, self.numbers, self.prefix = label, numbers, prefix

    def get(self, key: str) -> tuple[bool, Any]:
        try:
            return True, lookup(self.numbers, key)
        except (KeyError, TypeError):
            return False, None


def _cell(run: _Run, key: str) -> str:
    found, value = run.get(key)
    if not found or isinstance(value, Mapping):
        return '<td class="missing">—</td>'
    number = value is None or (isinstance(value, int | float) and not isinstance(value, bool))
    css = "num" if number else "text"
    return f'<td class="{css}" data-key="{escape(run.prefix + key)}">{escape(format_value(value))}</td>'


def _header(runs: Sequence[_Run], first: str) -> str:
    cols = "".join(f"<th>{escape(r.label)}</th>" for r in runs)
    return f"<tr><th>{escape(first)}</th>{cols}</tr>"


def _scalar_table(runs: Sequence[_Run], section: str, rows: Sequence[tuple[str, str]]) -> str:
    """Rows of named values, one column per run."""
    body = [_header(runs, "")]
    for label, key in rows:
        if not any(r.get(f"{section}.{key}")[0] for r in runs):
            continue
        cells = "".join(_cell(r, f"{section}.{key}") for r in runs)
        body.append(f"<tr><th>{escape(label)}</th>{cells}</tr>")
    return "<table>" + "".join(body) + "</table>" if len(body) > 1 else ""


def _names(runs: Sequence[_Run], key: str) -> list[str]:
    """Union of the keys of the mapping at ``key`` in every run, first-seen order."""
    names: list[str] = []
    for r in runs:
        found, value = r.get(key)
        if found and isinstance(value, Mapping):
            names += [n for n in value if n not in names]
    return names


def _pairs(runs: Sequence[_Run], key: str) -> list[tuple[str, str]]:
    """(label, key) rows named by the keys of the mapping at ``key``."""
    return [(n, n) for n in _names(runs, key)]


def _matrix_table(
    runs: Sequence[_Run],
    section: str,
    rows: Sequence[tuple[str, str]],
    columns: Sequence[tuple[str, str]],
    first: str,
) -> str:
    """(row label, key) rows × (column label, key) statistics; with two runs, a column per run under each."""
    if not rows:
        return ""
    compare = len(runs) > 1
    span = f' colspan="{len(runs)}"' if compare else ""
    rowspan = ' rowspan="2"' if compare else ""
    head = f"<tr><th{rowspan}>{escape(first)}</th>"
    head += "".join(f"<th{span}>{escape(label)}</th>" for label, _ in columns) + "</tr>"
    if compare:
        head += "<tr>" + "".join(f"<th>{escape(r.label)}</th>" for _ in columns for r in runs) + "</tr>"
    body = [head]
    for label, row in rows:
        cells = "".join(_cell(r, f"{section}.{row}.{key}") for _, key in columns for r in runs)
        body.append(f"<tr><th>{escape(label)}</th>{cells}</tr>")
    return '<div class="wide"><table>' + "".join(body) + "</table></div>"


def _unavailable(runs: Sequence[_Run], section: str) -> str:
    """A note per run for which ``section`` is not available, with the reason from the report."""
    notes = []
    for r in runs:
        found, available = r.get(f"{section}.available")
        if not found:
            notes.append(
                f'<p class="na">{escape(r.label)}: not available (the run has no {escape(section)} data)</p>'
            )
        elif not available:
            reason = _cell(r, f"{section}.reason").replace("<td", "<span").replace("</td>", "</span>")
            notes.append(f'<p class="na">{escape(r.label)}: not available — {reason}</p>')
    return "".join(notes)


def _available(runs: Sequence[_Run], section: str) -> bool:
    return any(r.get(f"{section}.available") == (True, True) for r in runs)


def _figure(plots: Mapping[str, str], name: str) -> str:
    if name not in plots:
        return ""
    return (
        f'<figure><img src="{escape(name)}" alt="{escape(plots[name])}">'
        f"<figcaption>{escape(plots[name])}</figcaption></figure>"
    )


def _latency(runs: Sequence[_Run], source: str, title: str) -> str:
    section = f"latency.{source}"
    parts = [f"<h3>{escape(title)}</h3>", _unavailable(runs, section)]
    if _available(runs, section):
        parts.append(_scalar_table(runs, section, _LATENCY_ROWS))
        rows = [(s, f"stages.{s}") for s in _names(runs, f"{section}.stages")]
        rows += [(t, f"transports.{t}") for t in _names(runs, f"{section}.transports")]
        rows.append(("end to end", "end_to_end"))
        parts.append(_matrix_table(runs, section, rows, _LATENCY_COLUMNS, "series"))
    return "".join(parts)


def render_page(report: Mapping[str, Any], plots: Mapping[str, str]) -> str:
    """The page for ``report`` (the dict written to ``report.json``); ``plots``: figure file → caption."""
    label_a = str(report["run"]["bag"])
    runs = [_Run(label_a, report, "")]
    if "compare" in report:
        label_b = str(report["compare"].get("run", {}).get("bag", "compared run"))
        if label_b == label_a:
            runs = [_Run(f"{label_a} (A)", report, "")]
            label_b += " (B)"
        runs.append(_Run(label_b, report["compare"], "compare."))
    title = "Evaluation report: " + " vs ".join(r.label for r in runs)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        '<p class="runs">'
        + "".join(
            f"<span><b>{escape(r.label)}</b>: {escape(str(r.get('run.source')[1]))}</span>" for r in runs
        )
        + "</p>",
        '<p>All numbers: <a href="report.json">report.json</a>. '
        'Stage timeline: <a href="trace.json">trace.json</a> (open in ui.perfetto.dev or chrome://tracing).</p>',
        "<h2>Run</h2>",
        _scalar_table(runs, "run", _RUN_ROWS),
    ]
    reasons = _names(runs, "run.skipped")
    if reasons:
        out.append("<h3>Skipped detections by reason</h3>")
        out.append(_scalar_table(runs, "run.skipped", _pairs(runs, "run.skipped")))
    out += [
        "<h2>Latency</h2>",
        _latency(runs, "offline", "Offline replay (core stages on this host)"),
        _figure(plots, "latency_histogram.png"),
        _latency(runs, "live", "Live graph (trails recorded in the bag: stages, transport, end to end)"),
        _figure(plots, "latency_histogram_live.png"),
        _figure(plots, "latency_timeline.png"),
        "<h2>Detection</h2>",
        _unavailable(runs, "detection"),
    ]
    if _available(runs, "detection"):
        out.append(_scalar_table(runs, "detection", _DETECTION_ROWS))
        out.append(
            _matrix_table(
                runs, "detection.per_class", _pairs(runs, "detection.per_class"), _AP_COLUMNS, "class"
            )
        )
        out.append(_figure(plots, "ap_per_class.png"))
    out += ["<h2>3D localisation</h2>", _unavailable(runs, "localisation")]
    if _available(runs, "localisation"):
        out.append(_scalar_table(runs, "localisation", _LOCALISATION_ROWS))
        out.append(
            _matrix_table(
                runs,
                "localisation.per_class",
                _pairs(runs, "localisation.per_class"),
                _ERROR_COLUMNS,
                "class",
            )
        )
        out.append(_figure(plots, "localisation_error_histogram.png"))
    out += ["<h2>Tracking</h2>", _unavailable(runs, "tracking")]
    if _available(runs, "tracking"):
        out.append(_scalar_table(runs, "tracking", _TRACKING_ROWS))
    out += ["<h2>Policy</h2>", _unavailable(runs, "policy")]
    if _available(runs, "policy"):
        out.append(_scalar_table(runs, "policy", _POLICY_ROWS))
        codes = _names(runs, "policy.rejections")
        if codes:
            out.append("<h3>Safety rejections by reason</h3>")
            out.append(_scalar_table(runs, "policy.rejections", _pairs(runs, "policy.rejections")))
    out.append("</body></html>")
    return "\n".join(part for part in out if part) + "\n"
