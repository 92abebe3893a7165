#!/usr/bin/env bash
# npm test: type-check, check the import graph of functions/, then a fresh test database
# (the project's own test cluster, or DATABASE_URL when set), the schema drift check, then
# pgTAP (pg_prove) and vitest over real HTTP; last, the same migrations, pgTAP and an API
# smoke test on the hosted-Supabase emulation (scripts/test-hosted.sh). Settings come from
# the environment, then .env.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=settings.sh
source scripts/settings.sh
# DATABASE_URL counts only from the environment: a .env that points npm start at a real
# database must not point the test suite's signups and resets at it too.
database_url_from_environment="${DATABASE_URL-}"
load_env_file "$root"
if [[ -z $database_url_from_environment && -n ${DATABASE_URL:-} ]]; then
  echo "[test] ignoring DATABASE_URL from .env (to test against that database, set it in the environment)"
  unset DATABASE_URL
fi

echo "[test] Node.js $(node --version) ($(command -v node))"

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
  # The API under test logs in as npm start's does: the authenticator role.
  API_DATABASE_URL="$(bash scripts/db.sh api-url test)"
  export DATABASE_URL API_DATABASE_URL
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

echo "[test] hosted-Supabase emulation: migrations, pgTAP and the API as a postgres that is not a superuser"
bash scripts/test-hosted.sh
