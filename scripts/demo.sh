#!/usr/bin/env bash
# One command to a running Kefu with demo data on SQLite: set up, migrate, load the demo company,
# start the background worker and serve at http://127.0.0.1:8000 (Ctrl+C stops both).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export KEFU_DEBUG=${KEFU_DEBUG:-0}
.venv/bin/kefu migrate --no-input -v 0
.venv/bin/kefu demo
.venv/bin/kefu worker >data/worker.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM
echo "Open http://${KEFU_HOST:-127.0.0.1}:${KEFU_PORT:-8000}/ and log in with one of the demo logins above."
.venv/bin/kefu serve --host "${KEFU_HOST:-127.0.0.1}" --port "${KEFU_PORT:-8000}"
