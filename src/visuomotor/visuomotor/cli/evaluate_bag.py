"""Evaluate a recorded bag offline: ``visuomotor eval BAG --report DIR [--compare OTHER]``.

Replays BAG through the core pipeline (``visuomotor.replay``) into DIR (``result.json``, ``timing.json``),
then writes the report there: ``index.html`` (open it in a browser), ``report.json`` (every number),
``trace.json`` (stage timeline for ui.perfetto.dev or chrome://tracing) and PNG figures. BAG may also be
a directory an earlier replay wrote; it is then reported without replaying.

``--compare OTHER`` puts a second run beside the first (two columns, overlaid figures): another bag
(replayed into DIR/compare), a replay directory, or an earlier report directory (its ``report.json``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from visuomotor.cli.replay import add_pipeline_arguments, pipeline_config

__all__ = ["add_arguments", "run"]

#: Where a bag given to ``--compare`` is replayed, under the report directory.
COMPARE_SUBDIR = "compare"
#: Storage files of a rosbag2 bag.
BAG_SUFFIXES = (".mcap", ".db3")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "bag",
        type=Path,
        metavar="BAG",
        help="rosbag2 bag to replay (directory or .mcap), or a replay directory",
    )
    parser.add_argument(
        "--report", type=Path, required=True, metavar="DIR", help="report directory (created)"
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="OTHER",
        help="a second run side by side: a bag, a replay directory or an earlier report directory",
    )
    # The replay's own options, as `visuomotor replay --offline` has them (the same config is built).
    replay = parser.add_argument_group("replay (when BAG or OTHER is a bag)")
    add_pipeline_arguments(replay)
    replay.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0 = all)")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")


def _replay(bag: Path, out_dir: Path, args: argparse.Namespace) -> None:
    """Replay ``bag`` offline with the parameters of ``--config-dir``; write its files into ``out_dir``."""
    from visuomotor.report import ReportError

    try:
        from visuomotor.replay import replay_offline
    except ImportError as err:
        if err.name not in ("visuomotor.replay", None):
            raise
        raise ReportError(
            f"cannot replay {bag}: the offline replay (visuomotor.replay) is not available ({err}); "
            "pass a directory with an earlier replay's result.json instead"
        ) from err
    config = pipeline_config(args, max_frames=args.max_frames, progress=not args.no_progress)
    replay_offline(bag, config).write(out_dir)


def _looks_like_bag(path: Path) -> bool:
    """A rosbag2 bag: a storage file, or a directory with ``metadata.yaml`` or storage files."""
    if path.is_file():
        return path.suffix in BAG_SUFFIXES
    return (path / "metadata.yaml").is_file() or any(p.suffix in BAG_SUFFIXES for p in path.iterdir())


def _run_directory(path: Path, replay_into: Path, what: str, args: argparse.Namespace) -> Path:
    """A directory holding the run's files: ``path`` itself if it is one, else ``path`` replayed."""
    from visuomotor.report import ReportError, is_run_directory

    if is_run_directory(path):
        return path
    if not path.exists():
        raise ReportError(
            f"{what} {path} not found: pass a rosbag2 bag (directory or .mcap) or a directory with a "
            "replay's result.json"
        )
    if not _looks_like_bag(path):
        raise ReportError(
            f"{what} {path} has no result.json and is not a rosbag2 bag (no metadata.yaml, .mcap or .db3): "
            "pass a bag recorded with `visuomotor record`, or the directory a replay wrote"
        )
    replay_into.mkdir(parents=True, exist_ok=True)
    _replay(path, replay_into, args)
    return replay_into


def run(args: argparse.Namespace) -> int:
    # The report stack (matplotlib, faster-coco-eval, trackeval) loads only when a bag is evaluated, so
    # `visuomotor eval detector` and `--help` stay fast.
    from visuomotor.errors import ConfigError
    from visuomotor.report import summary_lines, write_report

    report_dir: Path = args.report
    if report_dir.exists() and not report_dir.is_dir():
        raise ConfigError(f"--report {report_dir} is a file; name a directory (created if missing)")
    main_dir = _run_directory(args.bag, report_dir, "BAG", args)
    other_dir = None
    if args.compare is not None:
        other_dir = _run_directory(args.compare, report_dir / COMPARE_SUBDIR, "--compare", args)
    files = write_report(main_dir, report_dir, other_dir)
    for line in summary_lines(files.report):
        print(line)
    if "compare" in files.report:
        print("compared with:")
        for line in summary_lines(files.report["compare"]):
            print(line)
    print(f"report: {files.index_html}")
    return 0
