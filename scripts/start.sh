#!/usr/bin/env bash
# npm start: the project's own PostgreSQL (or DATABASE_URL), all migrations, then the API (on
# every core: functions/node/server.ts) and the worker, built to plain JavaScript first (npm
# run build), and the local mail catcher when SMTP_URL is unset.
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

# DATABASE_URL (the database owner) migrates and runs the worker; the API's pool logs in as
# API_DATABASE_URL, on the local cluster the authenticator role, which holds no privileges of
# its own (README: Deploying). Given DATABASE_URL without API_DATABASE_URL, the API uses
# DATABASE_URL too.
if [[ -z "${DATABASE_URL:-}" ]]; then
  bash scripts/db.sh start dev
  DATABASE_URL="$(bash scripts/db.sh url dev)"
  API_DATABASE_URL="${API_DATABASE_URL:-$(bash scripts/db.sh api-url dev)}"
  export DATABASE_URL API_DATABASE_URL
else
  echo "[db] using DATABASE_URL${API_DATABASE_URL:+ (the API: API_DATABASE_URL)}"
fi
bash scripts/db.sh migrate "$DATABASE_URL"
npm run --silent build

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

# A small supervisor: one Node process each (no wrapper process, so signals reach them
# directly; the API's process starts its own workers). A process that exits on its own (a
# crash, a fatal error) is started again after a short pause that doubles while it keeps
# failing (1 s, 2 s, … 30 s) and goes back to 1 s once it has run for a minute; the others keep
# running. Ctrl-C or TERM stops them all.
declare -A script_of=() pid_of=() started_at=() delay_of=()
names=()
stopping=0

# Starts $1 now, or after $2 seconds (a subshell that sleeps, then becomes the Node process).
launch() {
  local name="$1" delay="${2:-0}"
  if (( delay > 0 )); then
    ( trap 'kill "$nap" 2>/dev/null; exit 143' TERM INT
      sleep "$delay" & nap=$!; wait "$nap"
      trap - TERM INT
      # shellcheck disable=SC2086 # the arguments of node, split on spaces
      exec node ${script_of[$name]} ) &
  else
    # shellcheck disable=SC2086
    node ${script_of[$name]} &
  fi
  pid_of[$name]=$!
  started_at[$name]=$(( SECONDS + delay ))
}

supervise() { script_of[$1]="$2"; delay_of[$1]=1; names+=("$1"); launch "$1"; }

stop_all() {
  stopping=1
  trap - INT TERM EXIT
  local name
  for name in "${names[@]}"; do kill -TERM "${pid_of[$name]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  exit "${1:-0}"
}
trap 'stop_all 130' INT
trap 'stop_all 143' TERM
trap 'stop_all $?' EXIT

if [[ -z "${SMTP_URL:-}" ]]; then
  SMTP_URL="smtp://127.0.0.1:$MAIL_CATCHER_SMTP_PORT"
  export SMTP_URL
  supervise mail-catcher "--import tsx scripts/mail-catcher.ts"
  echo "[mail] SMTP_URL is unset: mail goes to the local catcher; read it at http://127.0.0.1:$MAIL_CATCHER_HTTP_PORT/"
fi
# One worker process delivers mail and outbound webhooks; each can be switched off alone.
if [[ "${MAIL_WORKER:-on}" != "off" || "${WEBHOOKS_WORKER:-on}" != "off" ]]; then
  supervise worker "--enable-source-maps dist/node/worker.js"
fi
supervise api "--enable-source-maps dist/node/server.js"

while (( ! stopping )); do
  exited=""
  wait -n -p exited "${pid_of[@]}" && status=0 || status=$?
  # A signal (trapped above) ends the wait with no process named: the trap stops everything.
  [[ -n $exited ]] || continue
  for name in "${names[@]}"; do
    [[ ${pid_of[$name]} == "$exited" ]] || continue
    if (( SECONDS - started_at[$name] >= 60 )); then delay_of[$name]=1; fi
    echo "[start] $name (pid $exited) exited with status $status; starting it again in ${delay_of[$name]} s" >&2
    launch "$name" "${delay_of[$name]}"
    delay_of[$name]=$(( delay_of[$name] * 2 > 30 ? 30 : delay_of[$name] * 2 ))
  done
done
