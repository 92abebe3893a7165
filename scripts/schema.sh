#!/usr/bin/env bash
# The schema's two forms: sql/ (the schema as it is now, one file per domain) and
# supabase/migrations/ (the history databases follow). This script builds a database from
# either, dumps a database in a normalized form, proves the two forms build the same database,
# and writes the migration for a change made in sql/.
#
#   scripts/schema.sh build-sql URL [DIR]   apply DIR (default sql/) to URL, files in name order
#   scripts/schema.sh dump URL              normalized schema (pg_dump --schema-only) + reference data
#   scripts/schema.sh drift                 build sql/ and the migrations into scratch databases;
#                                           exit 1 and print the difference if they differ
#   scripts/schema.sh diff NAME             write supabase/migrations/<timestamp>_NAME.sql from the
#                                           difference between the migrations and sql/ (migra, plus
#                                           the comments and function privileges migra leaves out)
#
# drift and diff take --sql DIR (another schema folder) and --project DIR (another folder holding
# supabase/migrations/ and supabase/config.toml), which is how the tests exercise them.
#
# Scratch databases live on the local test cluster (started if needed; TEST_DB_PORT or DB_PORT
# moves it) and are dropped afterwards. They are not the cluster's pg_cron database, so both
# builds skip pg_cron alike; the jobs themselves are compared as data (app.scheduled_jobs).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { echo "[schema] $*" >&2; }
die() { echo "[schema] $*" >&2; exit 1; }

psql_quiet() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

cmd_build_sql() {
  local url="$1" dir="${2:-$root/sql}" files
  files=("$dir"/*.sql)
  [[ -e ${files[0]} ]] || die "no .sql files in $dir"
  # One session, one transaction: a file that fails leaves nothing behind.
  { echo "\\set ON_ERROR_STOP 1"; for f in "${files[@]}"; do echo "\\ir '${f//\'/\'\'}'"; done; } \
    | PGOPTIONS='--client-min-messages=warning' psql_quiet --single-transaction "$url" -f - >/dev/null
}

# Reference data: every row a freshly built database holds (tiers, mail domains, score
# weights, job catalogue, …), one table after another, rows sorted.
dump_data() {
  local url="$1" table
  for table in $(psql -X -At "$url" -c "
      select pg_catalog.format('%I.%I', n.nspname, c.relname)
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname = 'app' order by 1"); do
    local rows
    rows="$(psql -X -At "$url" -c "copy (select * from $table) to stdout" | LC_ALL=C sort)"
    [[ -z $rows ]] && continue
    echo "-- data: $table"
    echo "$rows"
  done
}

# pg_dump's schema with what does not describe the schema taken out: comments and SET lines
# of the dump itself, blank lines, and the CLI's migration history.
cmd_dump() {
  local url="$1"
  pg_dump --schema-only --no-tablespaces --exclude-schema=supabase_migrations "$url" \
    | grep -vE '^(--|SET |SELECT pg_catalog\.set_config\(.search_path.|\\(un)?restrict )' \
    | grep -v '^[[:space:]]*$'
  dump_data "$url"
}

scratch_server() {
  [[ -n ${SCHEMA_SERVER_URL:-} ]] && { echo "$SCHEMA_SERVER_URL"; return; }
  bash "$root/scripts/db.sh" start test >&2
  bash "$root/scripts/db.sh" url test
}

# URL of a database named $2 on the server of URL $1.
database_url() { local url="$1" name="$2"; echo "${url%/*}/$name"; }

scratch_databases=()
scratch_server_url=""
drop_scratch() {
  local name
  for name in "${scratch_databases[@]}"; do
    psql -X -q "$scratch_server_url" -c "drop database if exists \"$name\" with (force)" 2>/dev/null || true
  done
}

# Sets scratch_url to a new empty database on the scratch server, dropped on exit.
create_scratch() {
  local name="schema_${1}_$$_$RANDOM"
  psql_quiet "$scratch_server_url" -c "create database \"$name\"" >/dev/null
  scratch_databases+=("$name")
  scratch_url="$(database_url "$scratch_server_url" "$name")"
}

build_migrations() {
  local url="$1" log
  log="$(mktemp)"
  if ! npx --no-install supabase db push --workdir "$project_dir" --db-url "$url?sslmode=disable" --include-all --yes >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"; die "supabase db push failed"
  fi
  rm -f "$log"
}

sql_dir="$root/sql"
project_dir="$root"
parse_options() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --sql) sql_dir="$(cd "$2" && pwd)"; shift 2 ;;
      --project) project_dir="$(cd "$2" && pwd)"; shift 2 ;;
      *) positional+=("$1"); shift ;;
    esac
  done
}

# Builds sql_dir into from_sql and the migrations into from_migrations (scratch databases).
build_both() {
  scratch_server_url="$(scratch_server)"
  trap drop_scratch EXIT
  create_scratch sql; from_sql="$scratch_url"
  create_scratch migrations; from_migrations="$scratch_url"
  cmd_build_sql "$from_sql" "$sql_dir" || die "${sql_dir#"$root"/}/ does not build (above)"
  build_migrations "$from_migrations"
}

cmd_drift() {
  local out
  build_both
  out="$(mktemp -d)"
  cmd_dump "$from_migrations" >"$out/migrations.sql"
  cmd_dump "$from_sql" >"$out/sql.sql"
  if diff -u --label "built from supabase/migrations/" --label "built from ${sql_dir#"$root"/}/" \
      "$out/migrations.sql" "$out/sql.sql" >"$out/diff"; then
    say "sql/ and supabase/migrations/ build the same database ($(grep -c '^CREATE' "$out/sql.sql") objects, $(grep -c '^-- data:' "$out/sql.sql") reference tables)"
    rm -rf "$out"
  else
    cat "$out/diff"
    rm -rf "$out"
    say "DRIFT: sql/ and supabase/migrations/ build different databases (diff above: - migrations, + sql/)."
    say "Write the migration for the change with: npm run db:diff -- <name>, review it, and commit both."
    return 1
  fi
}

# What migra leaves out, as statements that set it: the comments on the objects of the app
# schema (and of the api schema's views) and the execute privileges of app's functions. One
# line per object; db:diff writes the lines of the target database that differ from the
# source's.
catalog_extras() {
  psql -X -At "$1" <<'SQL'
select pg_catalog.format('comment on function %s is %L;', p.oid::regprocedure, d.description)
from pg_catalog.pg_proc p join pg_catalog.pg_description d on d.objoid = p.oid and d.classoid = 'pg_catalog.pg_proc'::regclass
where p.pronamespace = 'app'::regnamespace
union all
select pg_catalog.format('comment on %s %s is %L;', case c.relkind when 'v' then 'view' else 'table' end, c.oid::regclass, d.description)
from pg_catalog.pg_class c join pg_catalog.pg_description d on d.objoid = c.oid and d.classoid = 'pg_catalog.pg_class'::regclass and d.objsubid = 0
where c.relnamespace = 'app'::regnamespace or c.relnamespace = to_regnamespace('api')
union all
select pg_catalog.format('comment on column %s.%I is %L;', c.oid::regclass, a.attname, d.description)
from pg_catalog.pg_class c
join pg_catalog.pg_attribute a on a.attrelid = c.oid
join pg_catalog.pg_description d on d.objoid = c.oid and d.classoid = 'pg_catalog.pg_class'::regclass and d.objsubid = a.attnum
where c.relnamespace = 'app'::regnamespace
union all
select pg_catalog.format('revoke all on function %s from public;', p.oid::regprocedure)
  || coalesce((select pg_catalog.string_agg(pg_catalog.format(' grant execute on function %s to %I;', p.oid::regprocedure, r.rolname), '' order by r.rolname)
               from pg_catalog.aclexplode(p.proacl) x join pg_catalog.pg_roles r on r.oid = x.grantee
               where x.privilege_type = 'EXECUTE' and x.grantee <> p.proowner), '')
from pg_catalog.pg_proc p
where p.pronamespace = 'app'::regnamespace
order by 1
SQL
}

# migra recreates views (drop, then create) without their options, comments and grants: for the
# views named (schema.view, in app or api), what the target database has of those, as statements.
view_extras() {
  local url="$1"; shift
  [[ $# -gt 0 ]] || return 0
  psql -X -At "$url" -v views="{$(IFS=,; echo "$*")}" <<'SQL'
with views as (
  select c.* from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where n.nspname in ('app', 'api') and n.nspname || '.' || c.relname = any (:'views'::text[])
)
select pg_catalog.format('alter view %s set (%s);', c.oid::regclass, pg_catalog.array_to_string(c.reloptions, ', '))
from views c
where c.reloptions is not null
union all
select pg_catalog.format('comment on view %s is %L;', c.oid::regclass, d.description)
from views c join pg_catalog.pg_description d on d.objoid = c.oid and d.classoid = 'pg_catalog.pg_class'::regclass and d.objsubid = 0
union all
select pg_catalog.format('grant %s on %s to %I;', pg_catalog.lower(x.privilege_type), c.oid::regclass, r.rolname)
from views c, pg_catalog.aclexplode(c.relacl) x join pg_catalog.pg_roles r on r.oid = x.grantee
where x.grantee <> c.relowner
order by 1
SQL
}

cmd_diff() {
  local name="${1:-}" target statements extras
  [[ $name =~ ^[a-z0-9_]+$ ]] || die "usage: npm run db:diff -- <name> (lower-case letters, digits and _; it names the migration)"
  build_both
  # migra lists drops too (--unsafe): the engineer reviews every line before committing. Its
  # output goes to a file: Node cuts a piped stdout short (64 KiB) when the process exits.
  local migra_out; migra_out="$(mktemp)"
  npx --no-install migra "$from_migrations" "$from_sql" --unsafe --with-privileges \
    --exclude-schema supabase_migrations >"$migra_out" || true
  statements="$(cat "$migra_out")"; rm -f "$migra_out"
  local recreated
  mapfile -t recreated < <(grep -oE '^create or replace view "(app|api)"\."[a-z0-9_]+"' <<<"$statements" | sed -E 's/^create or replace view "(app|api)"\."([a-z0-9_]+)"/\1.\2/')
  if [[ ${#recreated[@]} -gt 0 ]]; then
    statements="$statements"$'\n\n-- The recreated views\' options, comments and grants (migra drops them).\n'"$(view_extras "$from_sql" "${recreated[@]}")"
  fi
  # A function migra drops and creates again loses its comment and privileges: repeat them.
  local dropped
  dropped="$(grep -oE '^drop function if exists "app"\."[a-z0-9_]+"' <<<"$statements" | sed -E 's/.*"app"\."([a-z0-9_]+)"/\1/' | paste -sd'|' - || true)"
  if [[ -n $dropped ]]; then
    statements="$statements"$'\n\n-- The recreated functions\' comments and privileges.\n'"$(catalog_extras "$from_sql" | grep -E "function app\.($dropped)\(" || true)"
  fi
  extras="$(LC_ALL=C comm -13 <(catalog_extras "$from_migrations" | LC_ALL=C sort) <(catalog_extras "$from_sql" | LC_ALL=C sort))"
  [[ -n $extras ]] && statements="$statements"$'\n\n-- Comments and function privileges (migra leaves them out).\n'"$extras"
  if [[ -z ${statements//[[:space:]]/} ]]; then
    say "no difference in the schema; reference data is compared by 'npm run db:drift'"
    return 0
  fi
  target="$project_dir/supabase/migrations/$(date -u +%Y%m%d%H%M%S)_${name}.sql"
  {
    echo "-- ${name//_/ }"
    echo "-- Written by npm run db:diff from the difference between supabase/migrations/ and sql/;"
    echo "-- reviewed by hand. Reference data changes (inserts, updates) are not diffed: add them here."
    echo
    echo "$statements"
  } >"$target"
  say "wrote ${target#"$root"/}: review it (comments, grants, data), then run npm run db:drift"
}

command="${1:-}"; shift || true
positional=()
case "$command" in
  build-sql) cmd_build_sql "$@" ;;
  dump) cmd_dump "$@" ;;
  drift) parse_options "$@"; cmd_drift ;;
  diff) parse_options "$@"; cmd_diff "${positional[@]}" ;;
  *) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
