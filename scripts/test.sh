#!/usr/bin/env bash
# npm test: type-check, check the import graph of functions/, then a fresh test database
# (the project's own test cluster, or DATABASE_URL when set), the schema drift check, then
# pgTAP (pg_prove) and vitest over real HTTP.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

echo "[test] type-checking"
npx --no-install tsc --noEmit -p .

echo "[test] import graph: no cycles in functions/, no route file imports another"
node --import tsx scripts/check-imports.ts

echo "[test] Edge Function: bundle it (npm run build:edge), deno check its source and the deployed entry"
bash scripts/check-edge.sh

if [[ -n "${DATABASE_URL:-}" ]]; then
  echo "[test] using DATABASE_URL (not reset)"
  bash scripts/db.sh migrate "$DATABASE_URL"
else
  bash scripts/db.sh reset test
  DATABASE_URL="$(bash scripts/db.sh url test)"
  export DATABASE_URL
fi

echo "[test] schema drift: sql/ and supabase/migrations/ must build the same database"
SCHEMA_SERVER_URL="$DATABASE_URL" bash scripts/schema.sh drift

echo "[test] supabase db lint (plpgsql_check)"
lint_url="$DATABASE_URL"
[[ "$lint_url" == *sslmode=* ]] || lint_url="${lint_url}$([[ "$lint_url" == *\?* ]] && echo '&' || echo '?')sslmode=disable"
npx --no-install supabase db lint --db-url "$lint_url" --schema app --level warning --fail-on warning

echo "[test] loading pgTAP helpers"
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q -f sql/tests/helpers.sql

echo "[test] pgTAP"
pg_prove --dbname "$DATABASE_URL" --ext .sql supabase/tests/

echo "[test] vitest"
npx --no-install vitest run
