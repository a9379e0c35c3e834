"""A node given a bad params file stops at once with ONE line naming the file and the key, exit code 2.

Probes on the old code: a params file for the wrong node name (``commandr:``), an empty or a scalar YAML
were silently ignored and the commander started live on its defaults; ``perception_timeout_s: 1e12``
switched the staleness check off; rcl's parse errors and wrong parameter types ended in tracebacks.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from visuomotor_ros.launcher import executable_path, ros_args

pytestmark = [pytest.mark.ros]

CASES = {
    "wrong_node": (
        b"commandr:\n  ros__parameters:\n    dry_run: true\n", r"'commandr'.*did you mean 'commander'"
    ),
    "empty": (b"", "empty"),
    "scalar": (b"42\n", "got a int"),
    "not_yaml": (b"commander:\n  ros__parameters:\n    dry_run: [1, 2\n", "not valid YAML at line 4"),
    "not_utf8": (b"commander:\n  ros__parameters:\n    dry_run: \xff\xfe\n", "not UTF-8"),
    "wrong_type": (
        b"commander:\n  ros__parameters:\n    dry_run: 'yes'\n", "parameter 'dry_run' from params file"
    ),
    "huge_timeout": (b"commander:\n  ros__parameters:\n    perception_timeout_s: 1.0e12\n",
                     r"perception_timeout_s must be in \(0, 2\]"),
    "no_ros_parameters": (b"commander:\n  dry_run: true\n", "needs a `ros__parameters:` mapping"),
    # rcl's own parser is stricter than YAML (mixed-type lists): its error is one line too.
    "rcl_only": (b"commander:\n  ros__parameters:\n    keepout_boxes_m: [1.0, 'a']\n", "params file"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_params_file_is_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    text, expected = CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_bytes(text)
    cmd = [str(executable_path("commander")), *ros_args(params_files=[path])]
    done = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=60)
    err = done.stderr.strip()
    assert done.returncode == 2, (done.returncode, err[-2000:], done.stdout[-2000:])
    assert "Traceback" not in err and "Traceback" not in done.stdout
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1, err
    assert re.search(expected, lines[0]), lines[0]
    if case not in ("wrong_type", "huge_timeout"):  # these name the key (and the file, for the type error)
        assert str(path) in lines[0] or path.name in lines[0], lines[0]


def test_wrong_parameter_type_on_the_command_line_is_one_line() -> None:
    cmd = [str(executable_path("commander")), *ros_args({"watchdog_rate_hz": "fast"})]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "parameter 'watchdog_rate_hz'" in done.stderr
