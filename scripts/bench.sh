#!/usr/bin/env bash
# npm run bench: the API against the same work done directly in SQL (scripts/bench.ts), then
# rescoring a 100k-lead org (scripts/bench/rescore.ts), then analytics and the stalled list
# over 1M leads in 100 orgs (scripts/bench/pipeline.ts), then one tenant's expensive work beside
# another's reads (scripts/bench/fair-share.ts). `npm run bench -- api|rescore|pipeline|fair-share`
# runs one of them; `bulk` (1,000-lead batch upserts, then searching 5,000 leads with notes),
# or `batch` or `search` alone, run scripts/bench/bulk.ts, outside the default set. Uses
# DATABASE_URL when set; otherwise starts and migrates the local dev cluster. Settings: see the
# header of each script (BENCH_*).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=settings.sh
source scripts/settings.sh
load_env_file "$root"

# As npm start: DATABASE_URL (the owner) seeds and migrates; the API's pool and the SQL path
# log in as API_DATABASE_URL, on the local cluster the authenticator role.
if [[ -z "${DATABASE_URL:-}" ]]; then
  bash scripts/db.sh start
  bash scripts/db.sh migrate
  DATABASE_URL="$(bash scripts/db.sh url dev)"
  API_DATABASE_URL="${API_DATABASE_URL:-$(bash scripts/db.sh api-url dev)}"
  export DATABASE_URL API_DATABASE_URL
else
  echo "[bench] using DATABASE_URL${API_DATABASE_URL:+ (the API: API_DATABASE_URL)}"
fi

run() { echo "[bench] $1"; npx --no-install tsx "$1"; }
case "${1:-all}" in
  api) run scripts/bench.ts ;;
  rescore) run scripts/bench/rescore.ts ;;
  pipeline) run scripts/bench/pipeline.ts ;;
  fair-share) run scripts/bench/fair-share.ts ;;
  bulk | batch | search) echo "[bench] scripts/bench/bulk.ts $1"; npx --no-install tsx scripts/bench/bulk.ts "$1" ;;
  all) run scripts/bench.ts && run scripts/bench/rescore.ts && run scripts/bench/pipeline.ts && run scripts/bench/fair-share.ts ;;
  *) echo "usage: npm run bench [-- api|rescore|pipeline|fair-share|bulk|batch|search]" >&2; exit 2 ;;
esac
