#!/usr/bin/env bash
# npm start: the project's own PostgreSQL (or DATABASE_URL), all migrations, then the API.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ -z "${DATABASE_URL:-}" ]]; then
  bash scripts/db.sh start dev
  DATABASE_URL="$(bash scripts/db.sh url dev)"
  export DATABASE_URL
else
  echo "[db] using DATABASE_URL"
fi
bash scripts/db.sh migrate "$DATABASE_URL"

exec npx --no-install tsx functions/node/server.ts
