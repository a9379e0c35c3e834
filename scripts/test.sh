#!/usr/bin/env bash
# The whole test suite: set up (idempotent), lint, then pytest. Extra arguments go to pytest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh
ruff check .
exec python -m pytest "$@"
