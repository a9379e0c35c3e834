"""The runtime never loads the simulator, the training stack or ROS (a robot runs it without them): each
runtime package is imported in a fresh interpreter and must leave MuJoCo, torch, ultralytics,
``visuomotor.sim`` and rclpy unloaded; and no runtime module imports the tools above it anywhere, not even
inside a function (``visuomotor.sim``, ``visuomotor.training``, the CLI)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

RUNTIME = (
    "bag",
    "calibration",
    "camera",
    "config",
    "control",
    "detection",
    "errors",
    "geometry",
    "kinematics",
    "latency",
    "perception",
    "policy",
    "replay",
    "tracking",
)
FORBIDDEN = ("mujoco", "torch", "ultralytics", "visuomotor.sim", "rclpy")
ABOVE = ("mujoco", "torch", "ultralytics", "visuomotor.sim", "visuomotor.training", "visuomotor.cli")
CORE = Path(__file__).resolve().parents[2] / "src" / "visuomotor" / "visuomotor"


@pytest.mark.parametrize("package", RUNTIME)
def test_a_runtime_package_loads_no_simulator_training_or_ros(package: str) -> None:
    code = (
        "import sys\n"
        f"import visuomotor.{package}\n"
        f"print(','.join(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing visuomotor.{package} loads {out.stdout.strip()}"


def test_no_runtime_module_imports_the_tools_above_it() -> None:
    offenders = []
    for package in RUNTIME:
        module = CORE / f"{package}.py"
        paths = [module] if module.exists() else (CORE / package).rglob("*.py")
        for path in paths:
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                modules = []
                if isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    modules = [node.module]
                offenders += [
                    f"{path.relative_to(CORE)}: {m}"
                    for m in modules
                    if any(m == above or m.startswith(above + ".") for above in ABOVE)
                ]
    assert offenders == []
