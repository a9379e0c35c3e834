#!/usr/bin/env bash
# The whole test suite: set up (idempotent), lint, then pytest. Extra arguments go to pytest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
# The evaluation report's browser test renders the page in Debian's headless Chromium; install it when we
# may (root + apt), otherwise that one test skips and says why.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
    && [ -z "${VISUOMOTOR_NO_APT:-}" ]; then
  echo "[test] installing chromium for the report's browser test"
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }; } \
    || echo "[test] chromium could not be installed: the report's browser test will skip"
fi
# shellcheck disable=SC1091
source scripts/env.sh
ruff check .
exec python -m pytest "$@"
