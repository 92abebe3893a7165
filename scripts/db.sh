#!/usr/bin/env bash
# The project's own PostgreSQL 15 clusters (no Docker): install, start, stop, reset, migrate.
#
#   scripts/db.sh install                        Debian packages (postgres 15, pg_cron, pgTAP, plpgsql_check, pg_prove)
#   scripts/db.sh start   [dev|test|hosted]      init on first use, start, print the URL
#   scripts/db.sh stop    [dev|test|hosted]      fast shutdown
#   scripts/db.sh restart [dev|test|hosted]      fast shutdown and start again (sessions are cut), or start
#   scripts/db.sh status  [dev|test|hosted]
#   scripts/db.sh url     [dev|test|hosted]      the URL migrations and the worker use (role postgres)
#   scripts/db.sh api-url [dev|test|hosted]      the URL the API's pool uses (role authenticator, which
#                                                holds no privileges of its own: sql/00_supabase.sql)
#   scripts/db.sh fresh   [dev|test|hosted]      start, then drop and recreate the empty `postgres` database
#   scripts/db.sh reset   [dev|test|hosted]      fresh + migrate (refused when DATABASE_URL is set)
#   scripts/db.sh migrate [url|dev|test|hosted]  supabase db push to url, else $DATABASE_URL, else dev
#
# dev listens on 127.0.0.1:54401, test on 54402, hosted on 54403 (DEV_DB_PORT, TEST_DB_PORT,
# HOSTED_DB_PORT move them, from the environment or .env; DB_PORT moves the dev or test cluster a
# command works on; any other name needs DB_PORT, for extra clusters side by side); data lives in
# .local/postgres/<name> (git-ignored). pg_cron only installs into the database named by
# cron.database_name, so a fresh database is made by recreating `postgres` rather than by using
# another name.
#
# dev and test: postgres is the superuser that owns everything. hosted behaves like a hosted
# Supabase project instead: supabase_admin is the only superuser; postgres (the role `url`
# prints, which migrations, tests and the app use) is NOSUPERUSER with CREATEROLE, CREATEDB,
# REPLICATION and BYPASSRLS and owns the database; the API roles, the auth and extensions schemas
# and pg_cron exist before any migration runs (scripts/hosted/roles.sql and database.sql).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=settings.sh
source "$root/scripts/settings.sh"
load_env_file "$root"
pg_bin=/usr/lib/postgresql/15/bin
ext_dir=/usr/share/postgresql/15/extension
packages=(postgresql-15 postgresql-15-cron postgresql-15-pgtap postgresql-15-plpgsql-check libtap-parser-sourcehandler-pgtap-perl)

say() { echo "[db] $*"; }
die() { echo "[db] $*" >&2; exit 1; }

cluster_port() {
  case "$1" in
    # DB_PORT moves either one, e.g. for a second work tree running its own suite.
    dev) echo "${DB_PORT:-${DEV_DB_PORT:-$DEFAULT_DEV_DB_PORT}}" ;;
    test) echo "${DB_PORT:-${TEST_DB_PORT:-$DEFAULT_TEST_DB_PORT}}" ;;
    # Not DB_PORT: npm test runs it next to a test cluster that DB_PORT may have moved.
    hosted) echo "${HOSTED_DB_PORT:-$DEFAULT_HOSTED_DB_PORT}" ;;
    # Any other name is an extra cluster (e.g. one per parallel work tree) on DB_PORT.
    *) [[ $1 =~ ^[a-z0-9-]+$ && ${DB_PORT:-} =~ ^[0-9]+$ ]] \
         || die "unknown cluster '$1' (use dev, test, or another name with DB_PORT set)"
       echo "$DB_PORT" ;;
  esac
}
cluster_dir() { echo "$root/.local/postgres/$1"; }
cluster_url() { echo "postgresql://postgres:postgres@127.0.0.1:$(cluster_port "$1")/postgres"; }
# The local clusters trust loopback; the hosted emulation gives authenticator the password postgres.
cluster_api_url() { echo "postgresql://authenticator:postgres@127.0.0.1:$(cluster_port "$1")/postgres"; }
# The variable that moves a cluster's port, for messages.
port_variable() {
  case "$1" in
    dev) echo "DEV_DB_PORT" ;;
    test) echo "TEST_DB_PORT" ;;
    hosted) echo "HOSTED_DB_PORT" ;;
    *) echo "DB_PORT" ;;
  esac
}
# The superuser that initdb creates and that owns the server: postgres, except on the hosted
# emulation, where it is Supabase's supabase_admin.
superuser() { if [[ $1 == hosted ]]; then echo supabase_admin; else echo postgres; fi; }
admin_psql() {
  local name="$1"; shift
  psql -X -q -h 127.0.0.1 -p "$(cluster_port "$name")" -U "$(superuser "$name")" -v ON_ERROR_STOP=1 "$@"
}

# initdb and postgres refuse to run as root: as root, run them as the postgres system user
# (from /, so an unreachable working directory such as /root does not get in the way).
as_owner() {
  if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# ---------------------------------------------------------------------------------------------
# install

missing_parts() {
  [[ -x $pg_bin/postgres && -x $pg_bin/initdb && -x $pg_bin/pg_ctl ]] || echo "postgresql-15"
  [[ -f $ext_dir/pg_cron.control ]] || echo "pg_cron"
  [[ -f $ext_dir/pgtap.control ]] || echo "pgTAP"
  [[ -f $ext_dir/plpgsql_check.control ]] || echo "plpgsql_check"
  command -v pg_prove >/dev/null || echo "pg_prove"
  command -v psql >/dev/null || echo "psql"
  return 0
}

cmd_install() {
  local missing
  missing="$(missing_parts | tr '\n' ' ')"
  [[ -z $missing ]] && return 0
  if [[ $EUID -ne 0 ]]; then
    die "missing: ${missing}- install them as root with:
    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ${packages[*]}"
  fi
  command -v apt-get >/dev/null || die "missing: ${missing}- and apt-get is not available (Debian/Ubuntu only)"
  say "installing ${missing}from Debian's packages"
  # Debian would otherwise create (and start) its own `main` cluster on 5432; we run our own.
  # postgresql-common's createcluster.conf includes createcluster.d.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/openclaw-no-main.conf
  local had_main=no
  [[ -d /etc/postgresql/15/main ]] && had_main=yes
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${packages[@]}" >/dev/null
  # Belt and braces: a main cluster that appeared with this install is dropped again.
  if [[ $had_main == no && -d /etc/postgresql/15/main ]] && command -v pg_dropcluster >/dev/null; then
    pg_dropcluster --stop 15 main || say "could not drop Debian's 15/main cluster; stop it with: pg_ctlcluster 15 main stop"
  fi
  missing="$(missing_parts | tr '\n' ' ')"
  [[ -z $missing ]] || die "still missing after install: $missing"
  say "installed"
}

# ---------------------------------------------------------------------------------------------
# clusters

# As root, the postgres user must be able to traverse every ancestor of the cluster folder
# (CI clones the repository as root into an arbitrary folder). Only ancestors it cannot
# traverse get o+x, nothing else changes.
ensure_reachable() {
  [[ $EUID -eq 0 ]] || return 0
  # From / downwards, so only the folders that actually block the way are changed.
  local path="" part parts
  IFS=/ read -r -a parts <<<"${1#/}"
  for part in "${parts[@]}"; do
    path="$path/$part"
    if ! runuser -u postgres -- test -x "$path"; then
      say "allowing the postgres user to traverse $path (chmod o+x)"
      chmod o+x "$path"
    fi
  done
}

# A Unix socket path is limited to 107 bytes; a deep checkout gets a socket folder in /tmp.
socket_dir() {
  local dir="$1" port="$2"
  if (( ${#dir} + ${#port} + 10 <= 100 )); then
    echo "$dir"
  else
    local tmp; tmp="/tmp/openclaw-pg-$(printf '%s' "$dir" | cksum | cut -d' ' -f1)"
    mkdir -p "$tmp"; chmod 700 "$tmp"
    [[ $EUID -eq 0 ]] && chown postgres:postgres "$tmp"
    echo "$tmp"
  fi
}

is_running() {
  local data; data="$(cluster_dir "$1")/data"
  [[ -f $data/postmaster.pid ]] && as_owner "$pg_bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

init_cluster() {
  local name="$1" dir pwfile
  dir="$(cluster_dir "$name")"
  say "creating the $name cluster in ${dir#"$root"/}"
  mkdir -p "$dir"
  ensure_reachable "$dir"
  if [[ $EUID -eq 0 ]]; then chown postgres:postgres "$dir"; fi
  # Superuser postgres/postgres, so the usual Supabase-style URL works (hosted: supabase_admin,
  # and postgres is made by scripts/hosted/roles.sql).
  pwfile="$(as_owner mktemp "$dir/.pw.XXXXXX")"
  echo postgres | as_owner tee "$pwfile" >/dev/null
  as_owner "$pg_bin/initdb" -D "$dir/data" -U "$(superuser "$name")" --pwfile="$pwfile" --auth=trust \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { rm -f "$pwfile"; cat "$dir/initdb.log" >&2; die "initdb failed for the $name cluster"; }
  rm -f "$pwfile" "$dir/initdb.log"
  # Loopback only, trust: this cluster is a local development and test database.
  printf 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' \
    | as_owner tee "$dir/data/pg_hba.conf" >/dev/null
}

# Settings are rewritten on every start (port and socket folder follow the checkout), in a file
# postgresql.conf includes last.
write_settings() {
  local name="$1" dir port sock
  dir="$(cluster_dir "$name")"; port="$(cluster_port "$name")"; sock="$(socket_dir "$dir" "$port")"
  grep -q "^include_if_exists = 'openclaw.conf'" "$dir/data/postgresql.conf" \
    || echo "include_if_exists = 'openclaw.conf'" | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
  {
    echo "# written by scripts/db.sh on every start"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '${sock//\'/\'\'}'"
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
  } | as_owner tee "$dir/data/openclaw.conf" >/dev/null
}

cmd_start() {
  local name="${1:-dev}" dir port
  dir="$(cluster_dir "$name")"; port="$(cluster_port "$name")"
  cmd_install
  if is_running "$name"; then
    # The fourth line of postmaster.pid is the port the server listens on.
    local running_port; running_port="$(sed -n 4p "$dir/data/postmaster.pid")"
    if [[ $running_port == "$port" ]]; then
      say "$name cluster already running: $(cluster_url "$name")"
      return 0
    fi
    # Started before its port changed (.env, DB_PORT, or an older default): move it.
    say "$name cluster is running on port $running_port, not $port: restarting it on $port"
    as_owner "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  fi
  # Before anything is created or started: a port someone else holds is named, with the way
  # out, instead of a Postgres log saying it could not bind.
  local variable command="npm start"
  variable="$(port_variable "$name")"
  [[ -n ${DB_PORT:-} && $name != hosted ]] && variable=DB_PORT
  [[ $name == dev ]] || command="npm test"
  require_free_port 127.0.0.1 "$port" "the $name cluster" "$variable" "$command" \
    || die "the $name cluster was not started"
  [[ -f $dir/data/PG_VERSION ]] || init_cluster "$name"
  ensure_reachable "$dir"
  write_settings "$name"
  as_owner "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null \
    || { tail -20 "$dir/postgres.log" >&2; die "the $name cluster did not start (log: ${dir#"$root"/}/postgres.log)"; }
  local i
  for ((i = 0; i < 50; i++)); do
    "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.1
  done
  if [[ $name == hosted ]]; then prepare_hosted; fi
  say "$name cluster listening: $(cluster_url "$name")"
}

# The hosted emulation's roles (every start: cheap and idempotent), and on first use its
# database as a new Supabase project has it.
prepare_hosted() {
  admin_psql hosted -d template1 -f "$root/scripts/hosted/roles.sql" >/dev/null
  if [[ "$(admin_psql hosted -d template1 -At -c "select count(*) from pg_database where datname = 'postgres' and datdba = 'postgres'::regrole")" != 1 ]] \
     || [[ "$(admin_psql hosted -d postgres -At -c "select to_regnamespace('auth') is not null")" != t ]]; then
    recreate_hosted_database
  fi
}

# Drops and recreates the hosted emulation's `postgres` database, owned by postgres as on
# Supabase, and gives it what Supabase creates before a project's first migration.
recreate_hosted_database() {
  admin_psql hosted -d template1 -c "drop database if exists postgres with (force)" -c "create database postgres owner postgres" 2>&1 \
    | { grep -v "^NOTICE" || true; }
  admin_psql hosted -d postgres -f "$root/scripts/hosted/database.sql" >/dev/null
  restart_scheduler hosted
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

# A restart as an operator would do it (pg_ctl restart -m fast): open sessions are terminated
# (57P01), new ones are refused while it stops and starts, and it returns once the cluster
# accepts connections again. The log stays in postgres.log, so no caller's output is held open.
cmd_restart() {
  local name="${1:-dev}" dir
  dir="$(cluster_dir "$name")"
  if ! is_running "$name"; then
    cmd_start "$name"
    return 0
  fi
  as_owner "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -m fast -w -t 60 restart >/dev/null \
    || { tail -20 "$dir/postgres.log" >&2; die "the $name cluster did not restart (log: ${dir#"$root"/}/postgres.log)"; }
  say "$name cluster restarted: $(cluster_url "$name")"
}

cmd_status() {
  local name="${1:-dev}" dir
  dir="$(cluster_dir "$name")"
  if is_running "$name"; then
    local running_port; running_port="$(sed -n 4p "$dir/data/postmaster.pid")"
    if [[ $running_port == "$(cluster_port "$name")" ]]; then
      say "$name cluster running: $(cluster_url "$name") (data: ${dir#"$root"/}/data)"
    else
      say "$name cluster running on port $running_port, not on its configured $(cluster_port "$name") (the next start moves it; data: ${dir#"$root"/}/data)"
    fi
  elif [[ -f $dir/data/PG_VERSION ]]; then
    say "$name cluster stopped (data: ${dir#"$root"/}/data)"
  else
    say "$name cluster not created yet (scripts/db.sh start $name)"
  fi
}

cmd_fresh() {
  local name="${1:-dev}"
  cmd_start "$name" >/dev/null
  if [[ $name == hosted ]]; then
    recreate_hosted_database
    say "$name cluster: database postgres recreated as a new Supabase project has it ($(cluster_url "$name"))"
    return 0
  fi
  admin_psql "$name" -d template1 -c "drop database if exists postgres with (force)" -c "create database postgres" 2>&1 \
    | { grep -v "^NOTICE" || true; }
  # Not the test cluster: its suites call the jobs' functions themselves and have never run
  # next to a live scheduler; that stays as it was.
  [[ $name == test ]] || restart_scheduler "$name"
  say "$name cluster: database postgres recreated empty ($(cluster_url "$name"))"
}

# Dropping the cron database stops pg_cron's scheduler for good (it exits cleanly, so Postgres
# does not start it again): without a restart no job would run until the cluster next starts.
restart_scheduler() {
  local dir; dir="$(cluster_dir "$1")"
  as_owner "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -m fast -w -t 60 restart >/dev/null \
    || { tail -20 "$dir/postgres.log" >&2; die "the $1 cluster did not restart (log: ${dir#"$root"/}/postgres.log)"; }
}

# ---------------------------------------------------------------------------------------------
# migrations

with_sslmode_disabled() {
  local url="$1"
  if [[ $url == *sslmode=* ]]; then echo "$url"
  elif [[ $url == *\?* ]]; then echo "${url}&sslmode=disable"
  else echo "${url}?sslmode=disable"
  fi
}

cmd_migrate() {
  local url="${1:-${DATABASE_URL:-dev}}"
  [[ $url == *://* ]] || url="$(cluster_url "$url")"
  # Local clusters speak plain TCP; a remote URL keeps whatever sslmode it names.
  if [[ $url =~ @(127\.0\.0\.1|localhost|\[::1\])(:|/) ]]; then url="$(with_sslmode_disabled "$url")"; fi
  local log; log="$(mktemp)"
  if (cd "$root" && npx --no-install supabase db push --workdir "$root" --db-url "$url" --include-all --yes) >"$log" 2>&1; then
    say "migrations applied ($(grep -c "^Applying migration" "$log" || true) new, ${url%%\?*})" \
      | sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#'
    rm -f "$log"
  else
    cat "$log" >&2; rm -f "$log"
    die "supabase db push failed"
  fi
}

cmd_reset() {
  local name="${1:-dev}"
  [[ -z ${DATABASE_URL:-} ]] \
    || die "DATABASE_URL is set: reset only wipes the project's own local clusters, never an external database (unset DATABASE_URL to reset the $name cluster)"
  cmd_fresh "$name"
  cmd_migrate "$(cluster_url "$name")"
}

command="${1:-}"; shift || true
case "$command" in
  install) cmd_install ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  restart) cmd_restart "$@" ;;
  status) cmd_status "$@" ;;
  url) cluster_url "${1:-dev}" ;;
  api-url) cluster_api_url "${1:-dev}" ;;
  fresh) cmd_fresh "$@" ;;
  reset) cmd_reset "$@" ;;
  migrate) cmd_migrate "$@" ;;
  *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 2 ;;
esac
