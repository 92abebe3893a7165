#!/usr/bin/env bash
# The project's own PostgreSQL 15 clusters (no Docker): install, start, stop, reset, migrate.
#
#   scripts/db.sh install                 Debian packages (postgres 15, pg_cron, pgTAP, plpgsql_check, pg_prove)
#   scripts/db.sh start   [dev|test]      init on first use, start, print the URL
#   scripts/db.sh stop    [dev|test]
#   scripts/db.sh status  [dev|test]
#   scripts/db.sh url     [dev|test]
#   scripts/db.sh fresh   [dev|test]      start, then drop and recreate the empty `postgres` database
#   scripts/db.sh reset   [dev|test]      fresh + migrate (refused when DATABASE_URL is set)
#   scripts/db.sh migrate [url]           supabase db push to url, $DATABASE_URL, or the dev cluster
#
# dev listens on 127.0.0.1:54322, test on 127.0.0.1:54330 (any other name: DB_PORT, for extra
# clusters side by side); data lives in .local/postgres/<name>
# (git-ignored). pg_cron only installs into the database named by cron.database_name, so a
# fresh test database is made by recreating `postgres` rather than by using another name.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pg_bin=/usr/lib/postgresql/15/bin
packages=(postgresql-15 postgresql-15-cron postgresql-15-pgtap postgresql-15-plpgsql-check libtap-parser-sourcehandler-pgtap-perl)

say() { echo "[db] $*"; }
die() { echo "[db] $*" >&2; exit 1; }

cluster_port() {
  case "$1" in
    dev) echo 54322 ;;
    test) echo 54330 ;;
    # Any other name is an extra cluster (e.g. one per parallel work tree) on DB_PORT.
    *) [[ $1 =~ ^[a-z0-9-]+$ && -n ${DB_PORT:-} ]] || die "unknown cluster '$1' (use dev, test, or another name with DB_PORT set)"
       echo "$DB_PORT" ;;
  esac
}
cluster_dir() { echo "$root/.local/postgres/$1"; }
cluster_url() { echo "postgresql://postgres:postgres@127.0.0.1:$(cluster_port "$1")/postgres"; }

# initdb and postgres refuse to run as root: as root, run them as the postgres system user.
as_owner() {
  if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

missing_parts() {
  [[ -x $pg_bin/postgres ]] || echo "postgresql-15"
  [[ -f /usr/share/postgresql/15/extension/pg_cron.control ]] || echo "pg_cron"
  [[ -f /usr/share/postgresql/15/extension/pgtap.control ]] || echo "pgTAP"
  [[ -f /usr/share/postgresql/15/extension/plpgsql_check.control ]] || echo "plpgsql_check"
  command -v pg_prove >/dev/null || echo "pg_prove"
  command -v psql >/dev/null || echo "psql"
}

cmd_install() {
  local missing
  missing="$(missing_parts | tr '\n' ' ')"
  [[ -z $missing ]] && return 0
  if [[ $EUID -ne 0 ]]; then
    die "missing: ${missing}— install them as root with:
    sudo apt-get update && sudo apt-get install -y ${packages[*]}"
  fi
  say "installing ${missing}from Debian's packages"
  # Debian would otherwise create and start its own cluster on 5432; we run our own.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/openclaw-no-main.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${packages[@]}" >/dev/null
  missing="$(missing_parts | tr '\n' ' ')"
  [[ -z $missing ]] || die "still missing after install: $missing"
}

# The postgres user must be able to reach the data directory through every ancestor.
ensure_reachable() {
  local dir="$1"
  [[ $EUID -eq 0 ]] || return 0
  local path="$dir"
  while [[ $path != "/" ]]; do
    path="$(dirname "$path")"
    if ! runuser -u postgres -- test -x "$path"; then
      chmod o+x "$path"
    fi
  done
}

is_running() {
  local dir; dir="$(cluster_dir "$1")"
  [[ -f $dir/data/postmaster.pid ]] && as_owner "$pg_bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

init_cluster() {
  local name="$1" dir port
  dir="$(cluster_dir "$name")"; port="$(cluster_port "$name")"
  say "creating the $name cluster in ${dir#"$root"/}"
  mkdir -p "$dir"
  ensure_reachable "$dir"
  [[ $EUID -eq 0 ]] && chown postgres:postgres "$dir"
  local pwfile; pwfile="$(mktemp)"; echo postgres > "$pwfile"
  [[ $EUID -eq 0 ]] && chown postgres "$pwfile"
  as_owner "$pg_bin/initdb" -D "$dir/data" -U postgres --pwfile="$pwfile" --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  {
    echo "# openclaw-crm local cluster"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$dir'"
    echo "max_connections = 200"
    echo "shared_preload_libraries = 'pg_cron'"
    echo "cron.database_name = 'postgres'"
    echo "cron.timezone = 'UTC'"
    echo "timezone = 'UTC'"
    if [[ $name != dev ]]; then
      # Throwaway data: durability buys nothing here and costs test time.
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
  # Loopback only, trust: this cluster is a local development and test database.
  printf 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' \
    | as_owner tee "$dir/data/pg_hba.conf" >/dev/null
}

cmd_start() {
  local name="${1:-dev}" dir
  dir="$(cluster_dir "$name")"
  cmd_install
  if is_running "$name"; then
    say "$name cluster already running: $(cluster_url "$name")"
    return 0
  fi
  [[ -f $dir/data/PG_VERSION ]] || init_cluster "$name"
  ensure_reachable "$dir"
  as_owner "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null \
    || { tail -20 "$dir/postgres.log" >&2; die "the $name cluster did not start (log: $dir/postgres.log)"; }
  say "$name cluster listening: $(cluster_url "$name")"
}

cmd_stop() {
  local name="${1:-dev}" dir
  dir="$(cluster_dir "$name")"
  if is_running "$name"; then
    as_owner "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    say "$name cluster stopped"
  else
    say "$name cluster is not running"
  fi
}

cmd_status() {
  local name="${1:-dev}"
  if is_running "$name"; then say "$name cluster running: $(cluster_url "$name")"; else say "$name cluster stopped"; fi
}

cmd_fresh() {
  local name="${1:-dev}" port
  port="$(cluster_port "$name")"
  cmd_start "$name" >/dev/null
  psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d template1 -v ON_ERROR_STOP=1 \
    -c "drop database if exists postgres with (force)" -c "create database postgres" 2>&1 \
    | { grep -v "^NOTICE" || true; }
  say "$name database recreated empty"
}

with_sslmode_disabled() {
  local url="$1"
  [[ $url == *sslmode=* ]] && { echo "$url"; return; }
  [[ $url == *\?* ]] && echo "${url}&sslmode=disable" || echo "${url}?sslmode=disable"
}

cmd_migrate() {
  local url="${1:-${DATABASE_URL:-$(cluster_url dev)}}"
  # Local clusters speak plain TCP; a remote URL keeps whatever sslmode it names.
  [[ $url == *127.0.0.1* || $url == *localhost* ]] && url="$(with_sslmode_disabled "$url")"
  local log; log="$(mktemp)"
  if (cd "$root" && npx --no-install supabase db push --db-url "$url" --include-all --yes) >"$log" 2>&1; then
    say "migrations applied ($(grep -c "^Applying migration" "$log" || true) new)"
    rm -f "$log"
  else
    cat "$log" >&2; rm -f "$log"
    die "supabase db push failed"
  fi
}

cmd_reset() {
  local name="${1:-dev}"
  [[ -z ${DATABASE_URL:-} ]] || die "DATABASE_URL is set: reset only wipes the project's own local clusters, never an external database"
  cmd_fresh "$name"
  cmd_migrate "$(cluster_url "$name")"
}

command="${1:-}"; shift || true
case "$command" in
  install) cmd_install ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  url) cluster_url "${1:-dev}" ;;
  fresh) cmd_fresh "$@" ;;
  reset) cmd_reset "$@" ;;
  migrate) cmd_migrate "$@" ;;
  *) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
