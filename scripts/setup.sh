#!/usr/bin/env bash
# Set up the workspace from nothing: venv, ROS 2 Kilted wheels + pinned deps, CMake path fix, colcon build.
# Idempotent: each step is skipped when its inputs have not changed since the last successful run.
#   ./scripts/setup.sh           the runtime workspace (what the demo, the nodes and the tests need)
#   ./scripts/setup.sh --train   the same, then the optional training extras (requirements/train.txt:
#                                torch, ultralytics, lap, ...) with the runtime environment kept intact
set -euo pipefail

TRAIN=
for arg in "$@"; do
  case "$arg" in
    --train) TRAIN=1 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) printf '[setup] error: unknown argument %s (usage: %s [--train])\n' "$arg" "$0" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
STAMPS="$VENV/.visuomotor-stamps"
cd "$ROOT"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# --- 1. The machine: Python 3.11 (the ROS 2 Kilted wheels are cp311) and a few Debian packages. ---------------
PY=${VISUOMOTOR_PYTHON:-python3}
command -v "$PY" >/dev/null || die "python3 not found: apt-get install python3.11 python3.11-venv python3.11-dev"
pyver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
[ "$pyver" = "3.11" ] || die "Python $pyver found, but the ROS 2 Kilted wheels need 3.11: apt-get install python3.11 python3.11-venv python3.11-dev, then VISUOMOTOR_PYTHON=python3.11 $0"
"$PY" -c 'import venv, ensurepip' 2>/dev/null || die "Python's venv module is missing: apt-get install python3.11-venv"
"$PY" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || die "Python headers are missing (the interface package compiles against them): apt-get install python3.11-dev"
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
ldconfig -p | grep -q 'libEGL.so.1' || missing+=(libegl1)
ldconfig -p | grep -q 'libEGL_mesa.so.0' || missing+=(libegl-mesa0 libgl1-mesa-dri)
ldconfig -p | grep -q 'libGL.so.1' || missing+=(libgl1)
ldconfig -p | grep -q 'libusb-1.0.so.0' || missing+=(libusb-1.0-0)   # pyrealsense2 loads it
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -z "${VISUOMOTOR_NO_APT:-}" ]; then
    say "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; } \
      || die "could not install Debian packages: apt-get install ${missing[*]}"
  else
    die "missing Debian packages: sudo apt-get install ${missing[*]}"
  fi
fi

# --- 2. The virtual environment and pinned packages. -------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi
mkdir -p "$STAMPS"
req_hash=$(cat requirements/runtime.txt requirements/no-deps.txt requirements/constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMPS/requirements" 2>/dev/null)" != "$req_hash" ]; then
  say "installing pinned packages (ROS 2 Kilted wheels, MuJoCo, ONNX Runtime, ...)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -r requirements/runtime.txt -c requirements/constraints.txt
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r requirements/no-deps.txt
  # The wheels' CMake files name the build machine's Python; point them at ours.
  PYINC=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  NPINC=$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')
  # (grep finds nothing once fixed: `|| true` keeps pipefail from ending a re-run here.)
  { grep -rlE '/opt/python/cp3[0-9]+-cp3[0-9]+/(include|lib)' "$VENV/share" 2>/dev/null || true; } | xargs -r sed -i -E \
    -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#$PYINC#g" \
    -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#$NPINC#g"
  echo "$req_hash" > "$STAMPS/requirements"
  rm -f "$STAMPS/build"
fi

# --- 3. colcon build (interfaces + core + ROS nodes). ------------------------------------------------------
src_hash=$( (find src colcon.meta launch config models -type f -not -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMPS/build" 2>/dev/null)" != "$src_hash" ] || [ ! -f install/setup.bash ]; then
  say "building the workspace with colcon"
  mkdir -p log
  # shellcheck disable=SC1091
  source "$VENV/bin/activate"
  export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
  if ! colcon build --symlink-install --event-handlers console_cohesion- status- \
      --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF > log/colcon-last.txt 2>&1; then
    tail -40 log/colcon-last.txt >&2
    die "colcon build failed (full log: log/colcon-last.txt)"
  fi
  echo "$src_hash" > "$STAMPS/build"
fi

# --- 4. Optional: the training extras (--train). -----------------------------------------------------------
# requirements/train.txt against the runtime's pins, then the repairs: ultralytics pulls in GUI opencv-python
# (shares the cv2 folder with opencv-python-headless and does not import on a bare machine), and colcon-core
# needs setuptools<80. The check runs every time; a failing check redoes the install.
train_check() {
  YOLO_OFFLINE=1 YOLO_AUTOINSTALL=false YOLO_CONFIG_DIR="$ROOT/runs/ultralytics_config" \
    "$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import sys

try:
    import lap, torch, torchvision, ultralytics  # noqa: F401
    import cv2
except Exception as err:  # noqa: BLE001 - report any import failure in one line
    print(f"training extras: import failed: {type(err).__name__}: {err}")
    sys.exit(1)
gui = next((line.split(":", 1)[1].strip() for line in cv2.getBuildInformation().splitlines()
            if line.strip().startswith("GUI:")), "?")
try:
    gui_pkg = md.version("opencv-python")
except md.PackageNotFoundError:
    gui_pkg = None
setuptools = md.version("setuptools")
problems = []
if gui != "NONE" or gui_pkg:
    problems.append(f"cv2 is not the headless build (GUI: {gui}, opencv-python {gui_pkg})")
if int(setuptools.split(".")[0]) >= 80:
    problems.append(f"setuptools {setuptools} >= 80 (colcon-core needs <80)")
if problems:
    print("training extras: " + "; ".join(problems))
    sys.exit(1)
print(f"training extras OK: import torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"ultralytics {ultralytics.__version__}, lap {md.version('lap')} works; cv2 {cv2.__version__} "
      f"headless (GUI: NONE); setuptools {setuptools} < 80")
PY
}
if [ -n "$TRAIN" ]; then
  train_hash=$(cat requirements/train.txt requirements/constraints.txt requirements/runtime.txt | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$STAMPS/train" 2>/dev/null)" = "$train_hash" ] && line=$(train_check | tail -n 1); then
    say "training extras up to date (requirements/train.txt unchanged)"
  else
    say "installing the training extras (requirements/train.txt: torch, ultralytics, lap, ...; ~5.5 GB, a few minutes)"
    rm -f "$STAMPS/train"
    mkdir -p log
    pipq() { "$VENV/bin/python" -m pip --disable-pip-version-check "$@" >> log/pip-train-last.txt 2>&1 \
      || { tail -30 log/pip-train-last.txt >&2; die "pip $* failed (full log: log/pip-train-last.txt)"; }; }
    : > log/pip-train-last.txt
    pipq install -r requirements/train.txt -c requirements/constraints.txt
    headless=$(grep -E '^opencv-python-headless==' requirements/runtime.txt | head -1)
    setuptools_pin=$(grep -E '^setuptools==' requirements/runtime.txt | head -1)
    [ -n "$headless" ] && [ -n "$setuptools_pin" ] || die "requirements/runtime.txt must pin opencv-python-headless and setuptools"
    if "$VENV/bin/python" -m pip --disable-pip-version-check show -q opencv-python >/dev/null 2>&1; then
      pipq uninstall -y opencv-python
    fi
    pipq install --force-reinstall --no-deps "$headless"
    pipq install --no-deps "$setuptools_pin"
    line=$(train_check | tail -n 1) || die "$line (pip log: log/pip-train-last.txt)"
    echo "$train_hash" > "$STAMPS/train"
  fi
  say "$line"
fi
say "ready: source scripts/env.sh to use the workspace in this shell"
