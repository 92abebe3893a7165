#!/usr/bin/env bash
# The Edge Function, as npm test checks it: bundle it (npm run build:edge), then deno check
# its source (supabase/functions/openclaw/edge.ts, which type-checks the app under Deno) and
# the deployed entry (index.ts, against the bundle). Nothing is downloaded: npm packages
# resolve from node_modules (--node-modules-dir=manual).
#
# Each run checks from scratch, in a DENO_DIR of its own: Deno's incremental check (its check
# cache) recomputes the exported types of changed files, and for a changed route file that
# can exceed TypeScript's instantiation limit (TS2589, reported without a location) although
# a whole check passes. A whole check takes about 20 s.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

node --import tsx scripts/build-edge.ts
deno_dir="$(mktemp -d)"
trap 'rm -rf "$deno_dir"' EXIT
DENO_DIR="$deno_dir" npx --no-install deno check --node-modules-dir=manual \
  supabase/functions/openclaw/edge.ts supabase/functions/openclaw/index.ts
