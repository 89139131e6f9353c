#!/usr/bin/env bash
# The README's run command: set up (idempotent), then start the demo center in the foreground
# on embedded defaults (private PostgreSQL under ./var) with a simulation feeding it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/setup.sh
exec .venv/bin/contactor up --demo "$@"
