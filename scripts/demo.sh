#!/usr/bin/env bash
# Set up (idempotent) and run the sim demo. Extra arguments go to the demo (see --help).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh
exec python -m visuomotor_ros.demo "$@"
