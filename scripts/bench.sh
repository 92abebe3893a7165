#!/usr/bin/env bash
# npm run bench: the API against the same work done directly in SQL (scripts/bench.ts).
# Uses DATABASE_URL when set; otherwise starts and migrates the local dev cluster.
# Settings: BENCH_LEADS, BENCH_CONCURRENCY, BENCH_POOL, BENCH_LIST_READS, BENCH_PAGE_SIZE, BENCH_WARMUP.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ -z "${DATABASE_URL:-}" ]]; then
  bash scripts/db.sh start
  bash scripts/db.sh migrate
  DATABASE_URL="$(bash scripts/db.sh url dev)"
  export DATABASE_URL
else
  echo "[bench] using DATABASE_URL"
fi

exec npx --no-install tsx scripts/bench.ts "$@"
