"""The report's figures (matplotlib, Agg, PNG): latency histograms and timeline, AP per class, 3D error.

With two runs every figure overlays them in the same axes (run A in blue, run B in orange). Figures
are built on :class:`matplotlib.figure.Figure` directly: no pyplot state, no display needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from visuomotor.report.latency import LatencySeries
from visuomotor.report.metrics import RunMetrics

__all__ = ["PLOT_TITLES", "write_plots"]

#: File name → caption, in page order.
PLOT_TITLES = {
    "latency_histogram.png": "Offline replay: latency per stage and end to end",
    "latency_histogram_live.png": "Live graph (recorded trails): latency per stage, transport and end to end",
    "latency_timeline.png": "End-to-end latency per frame",
    "ap_per_class.png": "Detection: AP per class",
    "localisation_error_histogram.png": "3D localisation error (matched objects)",
}
_COLOURS = ("tab:blue", "tab:orange")
_DPI = 100


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI, format="png")


def _latency_histograms(
    runs: Sequence[tuple[str, LatencySeries | None]], path: Path, with_transports: bool
) -> bool:
    present = [(label, s) for label, s in runs if s is not None]
    if not present:
        return False
    panels: list[str] = []
    for _, s in present:
        panels += [n for n in s.stage_order if n not in panels]
    panels.append("end to end")
    transports: list[str] = []
    if with_transports:
        for _, s in present:
            for trail in s.trails:
                transports += [t.stage for t in trail.transports() if t.stage not in transports]
    panels += transports
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(4.2 * cols, 2.6 * rows))
    for k, name in enumerate(panels):
        ax = fig.add_subplot(rows, cols, k + 1)
        samples = [(label, _samples_ms(s, name)) for label, s in runs if s is not None]
        values = np.concatenate([np.asarray(v, dtype=float) for _, v in samples if v] or [np.zeros(0)])
        if values.size == 0:
            ax.set_axis_off()
            continue
        bins = _bins(values)
        for i, (label, v) in enumerate(samples):
            if v:
                ax.hist(v, bins=bins, alpha=0.55, color=_COLOURS[i % 2], label=label)
        ax.set_title(name, fontsize=10)
        ax.ticklabel_format(axis="x", useOffset=False)
        ax.set_xlabel("ms")
        ax.set_ylabel("frames")
        if len(present) > 1:
            ax.legend(fontsize=8)
    _save(fig, path)
    return True


def _bins(values: np.ndarray, count: int = 30) -> np.ndarray:
    """``count`` equal bins over the samples; a constant series gets a narrow window around its value."""
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-9:
        pad = max(abs(lo) * 0.05, 1e-3)
        lo, hi = lo - pad, hi + pad
    return np.linspace(lo, hi, count + 1)


def _samples_ms(series: LatencySeries, name: str) -> list[float]:
    if name == "end to end":
        return [ms for _, ms in series.end_to_end_ms()]
    if name in series.stage_order:
        return series.stage_ms(name)
    return [t.duration_ns / 1e6 for trail in series.trails for t in trail.transports() if t.stage == name]


def _latency_timeline(runs: Sequence[RunMetrics], path: Path) -> bool:
    sources = [("offline replay", "offline"), ("live graph (recorded trails)", "live")]
    rows = [(title, attr) for title, attr in sources if any(getattr(r, attr) is not None for r in runs)]
    if not rows:
        return False
    fig = Figure(figsize=(12.0, 3.0 * len(rows)))
    for k, (title, attr) in enumerate(rows):
        ax = fig.add_subplot(len(rows), 1, k + 1)
        for i, run in enumerate(runs):
            series: LatencySeries | None = getattr(run, attr)
            if series is None:
                continue
            points = series.end_to_end_ms()
            if points:
                x, y = zip(*points, strict=True)
                ax.plot(x, y, color=_COLOURS[i % 2], lw=1.2, label=f"{run.label}: end to end")
            if len(runs) == 1:  # one run: also each stage, to see which one spikes
                for stage in series.stage_order:
                    pts = [
                        (idx, t.duration_ns / 1e6)
                        for idx, trail in zip(series.indices, series.trails, strict=True)
                        for t in trail.timings
                        if t.stage == stage
                    ]
                    if pts:
                        sx, sy = zip(*pts, strict=True)
                        ax.plot(sx, sy, lw=0.8, alpha=0.8, label=stage)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("frame" if attr == "offline" else "recorded trail")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("ms")
        ax.set_ylim(bottom=0.0)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)
    return True


def _ap_bars(runs: Sequence[RunMetrics], path: Path) -> bool:
    available = [r for r in runs if r.numbers["detection"].get("available")]
    if not available:
        return False
    names: list[str] = []
    for r in available:
        names += [n for n in r.numbers["detection"]["per_class"] if n not in names]
    fig = Figure(figsize=(max(6.0, 1.6 * len(names) + 3.0), 3.4))
    width = 0.8 / len(runs)
    x = np.arange(len(names))
    for k, (key, title) in enumerate((("ap50", "AP50"), ("ap50_95", "AP50-95"))):
        ax = fig.add_subplot(1, 2, k + 1)
        for i, run in enumerate(runs):
            det = run.numbers["detection"]
            if not det.get("available"):
                continue
            values = [det["per_class"].get(n, {}).get(key) for n in names]
            heights = [0.0 if v is None else v for v in values]
            xs = x + (i - (len(runs) - 1) / 2) * width
            ax.bar(xs, heights, width, color=_COLOURS[i % 2], label=run.label)
            for xi, v in zip(xs, values, strict=True):
                if v is None:  # a class without ground truth has no AP
                    ax.text(xi, 0.02, "n/a", ha="center", fontsize=8, color="0.4")
        ax.set_xticks(x, names, rotation=20, fontsize=8)
        ax.set_ylim(0.0, 1.05)
        ax.set_title(title, fontsize=10)
        if len(runs) > 1:
            ax.legend(fontsize=8)
    _save(fig, path)
    return True


def _error_histogram(runs: Sequence[RunMetrics], path: Path) -> bool:
    samples = [(r.label, [e * 1000.0 for v in r.localisation_errors_m.values() for e in v]) for r in runs]
    if not any(v for _, v in samples):
        return False
    values = np.concatenate([np.asarray(v) for _, v in samples if v])
    bins = np.linspace(0.0, max(float(values.max()) * 1.05, 1e-3), 31)
    fig = Figure(figsize=(7.0, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    for i, (label, v) in enumerate(samples):
        if v:
            ax.hist(v, bins=bins, alpha=0.55, color=_COLOURS[i % 2], label=label)
    ax.set_xlabel("error (mm)")
    ax.set_ylabel("matched objects")
    if len(runs) > 1:
        ax.legend(fontsize=8)
    _save(fig, path)
    return True


def write_plots(runs: Sequence[RunMetrics], out_dir: Path) -> dict[str, str]:
    """Write the figures that have data into ``out_dir``.

    Args:
        runs: the main run, then optionally the compared one (overlaid).
        out_dir: destination (exists).

    Returns:
        File name → caption of every figure written, in page order (names relative to ``out_dir``).
    """
    written = {
        "latency_histogram.png": _latency_histograms(
            [(r.label, r.offline) for r in runs], out_dir / "latency_histogram.png", with_transports=False
        ),
        "latency_histogram_live.png": _latency_histograms(
            [(r.label, r.live) for r in runs], out_dir / "latency_histogram_live.png", with_transports=True
        ),
        "latency_timeline.png": _latency_timeline(runs, out_dir / "latency_timeline.png"),
        "ap_per_class.png": _ap_bars(runs, out_dir / "ap_per_class.png"),
        "localisation_error_histogram.png": _error_histogram(
            runs, out_dir / "localisation_error_histogram.png"
        ),
    }
    for name, done in written.items():
        if not done:  # a figure left from an earlier report in the same directory would mislead
            (out_dir / name).unlink(missing_ok=True)
    return {name: PLOT_TITLES[name] for name, done in written.items() if done}
