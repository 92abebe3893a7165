# Sourced by the scripts: the project's .env, its default ports, and the check that a port
# is free before anything is started on it.
#
# Ports (all on 127.0.0.1, all movable in .env; see .env.example). The 5440x range keeps
# clear of `supabase start`, which takes 54320-54329 (API 54321, database 54322, Studio 54323,
# Inbucket 54324, ...), so both stacks can run on one machine.
#   PORT                   54400  the API (npm start)
#   DEV_DB_PORT            54401  the dev cluster (npm start, db:*)
#   TEST_DB_PORT           54402  the test cluster (npm test)
#   HOSTED_DB_PORT         54403  the hosted-Supabase emulation cluster (npm test, test:hosted)
#   MAIL_CATCHER_HTTP_PORT 54404  the local mail catcher's inbox
#   MAIL_CATCHER_SMTP_PORT 54405  the local mail catcher's SMTP
# DB_PORT, when set, moves whichever dev or test cluster a command works on (a one-off, e.g. a
# second work tree running its own suite next to this one).

readonly DEFAULT_API_PORT=54400
readonly DEFAULT_DEV_DB_PORT=54401
readonly DEFAULT_TEST_DB_PORT=54402
readonly DEFAULT_HOSTED_DB_PORT=54403
readonly DEFAULT_MAIL_CATCHER_HTTP_PORT=54404
readonly DEFAULT_MAIL_CATCHER_SMTP_PORT=54405

# Loads .env from the project folder when it exists. A variable already set in the environment
# wins over the file, as with Node's --env-file, so `PORT=54410 npm start` still works with a
# .env. The file is parsed by Node's own parser (util.parseEnv), so the shell scripts and the
# Node entries read it the same way.
load_env_file() {
  local file="$1/.env" entry name
  [[ -f $file ]] || return 0
  # NAME=value entries separated by NUL bytes: values may hold anything, even newlines.
  while IFS= read -r -d '' entry; do
    name="${entry%%=*}"
    [[ -n ${!name+set} ]] || export "${entry?}"
  done < <(node -e '
    const { parseEnv } = require("node:util");
    const { readFileSync } = require("node:fs");
    for (const [name, value] of Object.entries(parseEnv(readFileSync(process.argv[1], "utf8")))) {
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) process.stdout.write(`${name}=${value}\0`);
    }' "$file")
}

# True when host:port cannot be bound now: something listens there, or holds it.
port_taken() {
  local host="$1" port="$2"
  ! node -e '
    const server = require("node:net").createServer();
    server.once("error", () => process.exit(1));
    server.listen(Number(process.argv[1]), process.argv[2], () => server.close(() => process.exit(0)));
  ' "$port" "$host"
}

# "by <process> (pid <n>)" when ss can tell who holds the port (a listener, or a connection
# that took it as its local port), else nothing.
port_holder() {
  local port="$1" line
  command -v ss >/dev/null || return 0
  line="$({ ss -Hltnp "( sport = :$port )"; ss -Htnp "( sport = :$port )"; } 2>/dev/null \
    | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -1)" || true
  [[ -n $line ]] || return 0
  line="${line#users:((\"}"
  echo " by ${line%%\"*} (pid ${line##*pid=})"
}

# Stops with a message naming the port, what wanted it and the variable that moves it, instead
# of the error the server would print once it failed to bind.
#   require_free_port HOST PORT WHAT VARIABLE [COMMAND]
require_free_port() {
  local host="$1" port="$2" what="$3" variable="$4" command="${5:-npm start}" suggestion
  port_taken "$host" "$port" || return 0
  # Suggest a port that is free now: the first of port+10, port+20, ...
  for suggestion in $(seq $(( port + 10 )) 10 $(( port + 100 ))); do
    port_taken "$host" "$suggestion" || break
  done
  {
    echo "[ports] $host:$port is already in use$(port_holder "$port"): $what cannot listen there."
    echo "[ports] Stop what holds it (another npm start, \`supabase start\`, an old cluster), or choose"
    echo "[ports] another port: $variable=$suggestion $command, or set $variable in .env (see .env.example)."
  } >&2
  return 1
}
