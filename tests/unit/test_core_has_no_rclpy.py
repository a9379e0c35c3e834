"""The core never imports rclpy: checked on the source (every import statement) and at run time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "src" / "visuomotor" / "visuomotor"
ROS_MODULES = ("rclpy", "rosidl_runtime_py", "sensor_msgs", "std_msgs", "visuomotor_interfaces")


def _core_modules() -> list[str]:
    return sorted(
        ".".join(p.relative_to(CORE.parent).with_suffix("").parts).removesuffix(".__init__")
        for p in CORE.rglob("*.py")
        if p.name != "__main__.py"  # runs a command when imported
    )


def test_no_core_source_imports_ros() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(CORE)}: {n}" for n in names if n.split(".")[0] in ROS_MODULES]
    assert offenders == []


def test_importing_every_core_module_loads_no_ros() -> None:
    modules = _core_modules()
    assert len(modules) > 5
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {ROS_MODULES!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
