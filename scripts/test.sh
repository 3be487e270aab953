#!/usr/bin/env bash
# One command to set up everything and run all checks and tests.
# SQLite by default; set KEFU_DATABASE_URL (PostgreSQL) and KEFU_REDIS_URL to run against those.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
export KEFU_DATA_DIR=${KEFU_DATA_DIR:-$(mktemp -d /tmp/kefu-test-XXXXXX)}

echo "== lint (ruff), types (mypy), architecture (import-linter)"
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache >/dev/null
echo "== Django checks"
.venv/bin/kefu check --fail-level WARNING
.venv/bin/kefu makemigrations --check --dry-run >/dev/null
KEFU_ENV=production KEFU_SECRET_KEY="ci-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  .venv/bin/kefu check --deploy --fail-level WARNING
echo "== tests (database: ${KEFU_DATABASE_URL:-SQLite})"
.venv/bin/pytest -n 2 --dist loadgroup -p no:cacheprovider "$@"
