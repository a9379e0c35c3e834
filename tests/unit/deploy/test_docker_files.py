"""docker/: static checks (no Docker daemon here) — what the Dockerfile copies exists and is not ignored,
the requirement filtering leaves what the image needs, compose.yaml parses with the services and settings
the deployment relies on, and its commands name launch files and arguments that exist.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore rules in order, as (negated, regex): Go filepath.Match plus `**`, context-rooted."""
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex = ""
        for part in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
        rules.append((negated, re.compile(regex + "$")))
    return rules


def ignored(rel: str) -> bool:
    """Whether the build context leaves ``rel`` out: the last matching rule for it or a parent wins."""
    parts = rel.strip("/").split("/")
    result = False
    for negated, regex in dockerignore_patterns():
        if any(regex.match("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            result = not negated
    return result


def test_dockerfile_copies_files_that_exist_and_are_in_the_context() -> None:
    copies = [args for word, args in instructions(DOCKERFILE) if word == "COPY"]
    assert copies, "the Dockerfile copies nothing"
    for args in copies:
        words = [w for w in shlex.split(args) if not w.startswith("--")]
        for source in words[:-1]:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: {path} does not exist"
            if source not in (".", "./"):
                assert not ignored(source), f"COPY {source}: .dockerignore leaves it out of the context"
    # COPY . /ws must bring what colcon build and the nodes need, and leave the heavy local state out.
    for needed in ("src/visuomotor_ros/setup.py", "src/visuomotor_interfaces/package.xml", "colcon.meta",
                   "launch/robot.launch.py", "config/safety.yaml", "config/extrinsics/robot.yaml",
                   "models/detector_yolov8n.onnx", "models/act_pick.onnx", "requirements/runtime.txt",
                   "docker/entrypoint.sh"):
        assert (ROOT / needed).exists() and not ignored(needed), needed
    for heavy in (".venv", "build", "install", "log", "runs", "datasets", "results", "bags", ".git",
                  "yolov8n-cubes.onnx", "models/detector_yolov8n.pt",
                  "src/visuomotor/visuomotor/__pycache__"):
        assert ignored(heavy), f"{heavy} would be sent to the Docker daemon"


def test_dockerfile_bases_variants_and_entrypoint() -> None:
    steps = instructions(DOCKERFILE)
    args = {a.split("=")[0]: a.split("=", 1)[1] for w, a in steps if w == "ARG" and "=" in a}
    assert args["BASE_IMAGE"] == "ros:jazzy-ros-base" and args["VARIANT"] == "cpu"
    assert ("FROM", "${BASE_IMAGE}") in steps
    text = DOCKERFILE.read_text()
    for package in ("realsense2-camera", "ur-robot-driver", "tf2-ros"):
        assert f'"ros-${{ROS_DISTRO}}-{package}"' in text
    assert "onnxruntime-gpu==" in text and "nvidia/cuda:12" in text
    assert ("ENTRYPOINT", '["/entrypoint.sh"]') in steps
    entrypoint = DOCKER / "entrypoint.sh"
    assert os.access(entrypoint, os.X_OK)
    body = entrypoint.read_text()
    assert body.index("/opt/ros/${ROS_DISTRO}/setup.bash") < body.index("/ws/install/setup.bash")
    assert body.rstrip().endswith('exec "$@"')


def test_requirements_filtered_as_the_image_installs_them() -> None:
    # The Dockerfile drops the ROS PyPI wheels (grep -vE '^ros-'): ROS 2 comes from apt.
    assert "grep -vE '^ros-' /tmp/requirements/runtime.txt" in DOCKERFILE.read_text()
    lines = [x.strip() for x in (ROOT / "requirements" / "runtime.txt").read_text().splitlines()]
    kept = [x for x in lines if x and not x.startswith("#") and not re.match(r"^ros-", x)]
    names = {re.split(r"[=<>!~\[ ]", x)[0].lower() for x in kept}
    assert not any(n.startswith("ros-") for n in names)
    # onnxruntime pinned (the CUDA variant installs onnxruntime-gpu of the same version); colcon stays
    # in the venv so the console scripts run on the venv's Python; no rclpy from PyPI.
    assert re.search(r"^onnxruntime==[\d.]+$", "\n".join(kept), re.M)
    assert {"colcon-common-extensions", "numpy", "mujoco", "pyrealsense2"} <= names
    assert "rclpy" not in names


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} / ${VAR} with an empty environment."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: m.group(2) or "", value)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_services(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"robot", "sim", "robot-gpu"}
    for name, service in services.items():
        assert service["profiles"], f"{name}: a profile keeps `docker compose up` from starting it"
        assert service["network_mode"] == "host" and service["ipc"] == "host", name
        build = service["build"]
        assert (DOCKER / build["context"]).resolve() == ROOT, name
        assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE, name
    for name in ("robot", "robot-gpu"):
        robot = services[name]
        assert robot["privileged"] is True
        assert "/dev/bus/usb:/dev/bus/usb" in robot["volumes"]
        assert interpolate(robot["environment"]["ROS_DOMAIN_ID"]) == "0"
        calibration = next(interpolate(v) for v in robot["volumes"] if v.endswith(":/calibration:ro"))
        assert (DOCKER / calibration.split(":")[0] / "robot.yaml").is_file()
    sim = services["sim"]
    assert sim["environment"]["MUJOCO_GL"] == "egl"
    assert interpolate(sim["environment"]["ROS_DOMAIN_ID"]) != "0"  # never the robot's default domain
    gpu = services["robot-gpu"]
    assert gpu["profiles"] == ["gpu"] and gpu["build"]["args"]["VARIANT"] == "cuda"
    assert gpu["build"]["args"]["BASE_IMAGE"].startswith("nvidia/cuda:12")
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]


@pytest.mark.parametrize("service", ["robot", "sim", "robot-gpu"])
def test_compose_commands_name_real_launch_files_and_arguments(compose: dict, service: str) -> None:
    command = [interpolate(str(w)) for w in compose["services"][service]["command"]]
    assert command[:3] == ["ros2", "launch", "visuomotor_ros"]
    launch_file = ROOT / "launch" / command[3]
    assert launch_file.is_file()
    declared = set(re.findall(r'DeclareLaunchArgument\(\s*"(\w+)"', launch_file.read_text()))
    given = {w.split(":=")[0] for w in command[4:]}
    assert given <= declared, f"{service}: {sorted(given - declared)} not declared in {launch_file.name}"
