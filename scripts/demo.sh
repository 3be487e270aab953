#!/usr/bin/env bash
# One command to a running Kefu with demo data on SQLite: set up, migrate, load the demo company,
# start the background worker and serve at http://127.0.0.1:8000 (Ctrl+C stops both).
# Data (database, uploads, the worker's log) goes to KEFU_DATA_DIR, ./data by default.
# KEFU_SKIP_SETUP=1 skips scripts/setup.sh when the environment is already set up.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${KEFU_SKIP_SETUP:-0}" != 1 ]; then
  scripts/setup.sh
fi
export KEFU_DEBUG=${KEFU_DEBUG:-0}
data_dir=${KEFU_DATA_DIR:-./data}
mkdir -p "$data_dir"
worker_log="$data_dir/worker.log"
.venv/bin/kefu migrate --no-input -v 0
.venv/bin/kefu demo
.venv/bin/kefu worker >"$worker_log" 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM
# A worker that cannot start (a broken configuration, an unwritable data directory) exits within seconds:
# stop here with its log rather than serve a Kefu whose SLA clocks, webhooks and imports would never run.
for _ in 1 2 3 4 5 6; do
  sleep 0.5
  if ! kill -0 "$worker" 2>/dev/null; then
    status=0
    wait "$worker" || status=$?
    {
      echo
      echo "ERROR: the background worker stopped at start (exit status $status)."
      echo "Its log is $worker_log; the last lines:"
      tail -n 20 "$worker_log" 2>/dev/null | sed "s/^/    /" || true
    } >&2
    exit 1
  fi
done
echo "Worker running (log: $worker_log)."
echo "Open http://${KEFU_HOST:-127.0.0.1}:${KEFU_PORT:-8000}/ and log in with one of the demo logins above."
echo "Customers' help centre (FAQ, the bot in the chat, order status): http://${KEFU_HOST:-127.0.0.1}:${KEFU_PORT:-8000}/help/"
.venv/bin/kefu serve --host "${KEFU_HOST:-127.0.0.1}" --port "${KEFU_PORT:-8000}"
