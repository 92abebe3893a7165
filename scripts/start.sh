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

# Stored integration tokens (Calendly) are encrypted with INTEGRATIONS_ENCRYPTION_KEY. Locally,
# without one, a key is generated once and kept in .local/ (git-ignored): losing it only means
# reconnecting Calendly.
if [[ -z "${INTEGRATIONS_ENCRYPTION_KEY:-}" ]]; then
  key_file=".local/integrations.key"
  if [[ ! -s "$key_file" ]]; then
    mkdir -p .local
    (umask 077 && node -e 'process.stdout.write(require("node:crypto").randomBytes(32).toString("base64"))' > "$key_file")
    echo "[integrations] generated an encryption key for stored tokens in $key_file"
  fi
  INTEGRATIONS_ENCRYPTION_KEY="$(cat "$key_file")"
  export INTEGRATIONS_ENCRYPTION_KEY
fi

exec npx --no-install tsx functions/node/server.ts
