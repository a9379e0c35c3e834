"""The ``visuomotor`` command: one entry point, one module per job (``visuomotor <job> <what> ...``).

Jobs register lazily so ``visuomotor --help`` stays fast and optional extras (torch, ultralytics) load
only for the job that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from visuomotor.errors import VisuomotorError

__all__ = ["main"]

# job name → (module under visuomotor.cli, one-line help). Each module defines
# `add_arguments(parser)` and `run(args) -> int`.
JOBS: dict[str, tuple[str, str]] = {
    "dataset": ("dataset", "render labelled datasets from the sim"),
    "demos": ("demos", "record scripted-expert demonstrations in the sim"),
    "train": ("train", "train a model and export it to ONNX under models/"),
    "eval": ("evaluate", "evaluate a model, a policy or a recorded bag"),
    "demo": ("demo", "run the closed-loop sim demo (needs the built ROS workspace)"),
    "record": ("record", "record chosen topics of a running graph to a rosbag2 MCAP bag"),
    "replay": ("replay", "replay a bag: offline through the core pipeline, or into the ROS graph"),
    "bag": ("bag", "inspect a bag (info) or mend one a killed recording left (repair)"),
    "calibrate": ("calibrate", "hand-eye calibration of the camera extrinsics"),
}


def _available_jobs() -> dict[str, tuple[str, str]]:
    found = {}
    for name, (module, help_text) in JOBS.items():
        if importlib.util.find_spec(f"visuomotor.cli.{module}") is not None:
            found[name] = (module, help_text)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    jobs = _available_jobs()
    parser = argparse.ArgumentParser(prog="visuomotor", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="job", metavar="JOB", required=True)
    for name, (_, help_text) in jobs.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] not in jobs:
        parser.parse_args(argv or ["--help"])
        return 2
    if argv[0] == "eval" and len(argv) > 1 and not argv[1].startswith("-"):
        from visuomotor.cli.evaluate import SUBJECTS

        if argv[1] not in SUBJECTS:  # `visuomotor eval BAG ...` is short for `visuomotor eval bag BAG ...`
            argv.insert(1, "bag")
    module = importlib.import_module(f"visuomotor.cli.{jobs[argv[0]][0]}")
    job_parser = argparse.ArgumentParser(prog=f"visuomotor {argv[0]}", description=module.__doc__)
    module.add_arguments(job_parser)
    # `demo` passes everything through: argparse's REMAINDER refuses a first argument that is an option.
    demo = argv[0] == "demo"
    args = argparse.Namespace(demo_args=argv[1:]) if demo else job_parser.parse_args(argv[1:])
    try:
        return int(module.run(args))
    except VisuomotorError as err:
        print(f"visuomotor {argv[0]}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
