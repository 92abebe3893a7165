#!/usr/bin/env bash
# The hosted-Supabase emulation (the last step of npm test; alone: npm run test:hosted).
# A cluster set up the way a hosted Supabase project is (scripts/db.sh, "hosted"): supabase_admin
# is the superuser, postgres is not, and the API roles, auth, extensions and pg_cron exist before
# any migration. Then, all as postgres: supabase db push applies every migration, pgTAP runs the
# whole suite, and the API (the Node app) passes a smoke test on that database. What fails here
# and not on the test cluster assumed a superuser, which a Supabase project never has.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# The hosted cluster is always the project's own (HOSTED_DB_PORT moves it), whatever database
# DATABASE_URL names and whichever test cluster DB_PORT moved.
bash scripts/db.sh fresh hosted
url="$(bash scripts/db.sh url hosted)"
bash scripts/db.sh migrate "$url"

echo "[hosted] pgTAP as postgres"
PGOPTIONS="--client-min-messages=warning" psql "$url" -X -q -v ON_ERROR_STOP=1 -f sql/tests/helpers.sql
# Notices (an extension that already exists) are not results.
PGOPTIONS="--client-min-messages=warning" pg_prove --dbname "$url" --ext .sql supabase/tests/

echo "[hosted] API smoke test: the API logged in as Supabase's authenticator, arrange steps as postgres"
DATABASE_URL="$url" API_DATABASE_URL="$(bash scripts/db.sh api-url hosted)" EXPECT_HOSTED_SUPABASE=1 \
  npx --no-install vitest run tests/hosted-supabase.test.ts
