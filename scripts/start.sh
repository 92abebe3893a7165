#!/usr/bin/env bash
# npm start: the project's own PostgreSQL (or DATABASE_URL), all migrations, then the API,
# the mail worker and, when SMTP_URL is unset, the local mail catcher. Ctrl-C stops them all.
# Settings come from the environment, then .env (see .env.example).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=settings.sh
source scripts/settings.sh
load_env_file "$root"

PORT="${PORT:-$DEFAULT_API_PORT}"
HOST="${HOST:-127.0.0.1}"
MAIL_CATCHER_HTTP_PORT="${MAIL_CATCHER_HTTP_PORT:-$DEFAULT_MAIL_CATCHER_HTTP_PORT}"
MAIL_CATCHER_SMTP_PORT="${MAIL_CATCHER_SMTP_PORT:-$DEFAULT_MAIL_CATCHER_SMTP_PORT}"
export PORT HOST MAIL_CATCHER_HTTP_PORT MAIL_CATCHER_SMTP_PORT

# Every port this start needs is checked before anything starts (db.sh checks the cluster's
# own when it has to start it), so a clash is reported as such, with the way out.
ports_ok=yes
require_free_port "$HOST" "$PORT" "the API" PORT || ports_ok=no
if [[ -z "${SMTP_URL:-}" ]]; then
  require_free_port 127.0.0.1 "$MAIL_CATCHER_HTTP_PORT" "the mail catcher's inbox" MAIL_CATCHER_HTTP_PORT || ports_ok=no
  require_free_port 127.0.0.1 "$MAIL_CATCHER_SMTP_PORT" "the mail catcher's SMTP" MAIL_CATCHER_SMTP_PORT || ports_ok=no
fi
[[ $ports_ok == yes ]] || exit 1

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

# One Node process each (node --import tsx, no wrapper process), so signals reach them directly.
run() { node --import tsx "$@" & pids+=("$!"); }
pids=()
stop_all() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all INT TERM EXIT

if [[ -z "${SMTP_URL:-}" ]]; then
  SMTP_URL="smtp://127.0.0.1:$MAIL_CATCHER_SMTP_PORT"
  export SMTP_URL
  run scripts/mail-catcher.ts
  echo "[mail] SMTP_URL is unset: mail goes to the local catcher; read it at http://127.0.0.1:$MAIL_CATCHER_HTTP_PORT/"
fi
if [[ "${MAIL_WORKER:-on}" != "off" ]]; then
  run scripts/worker.ts
fi
run functions/node/server.ts

# Whichever stops first (Ctrl-C, or a crash) takes the others down with it.
status=0
wait -n "${pids[@]}" || status=$?
exit "$status"
