#!/usr/bin/env bash
# The whole test suite: set up (idempotent), then unit and integration tests, as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# .venv/bin/pytest (not "python -m pytest", which puts the source tree first on sys.path)
# imports the installed pyrunc, with its built executor and cffi module.
exec .venv/bin/pytest -p no:cacheprovider -n "${PYRUNC_TEST_JOBS:-2}" "$@" tests integration
