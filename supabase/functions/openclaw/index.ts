// The Supabase Edge Function `openclaw`: what `supabase functions deploy openclaw` uploads.
// It imports only the bundle that `npm run build:edge` writes next to it (the app, its npm
// packages and the patched postgres.js in one file that imports nothing but node:
// builtins), so every file the deploy needs is under supabase/functions/. Build first:
//   npm run build:edge && npx supabase functions deploy openclaw --no-verify-jwt
// Supabase hands requests for /functions/v1/openclaw/… to it as /openclaw/…, which the app
// answers as well as /api/openclaw/….
//
// A declarative server: `deno serve` and Supabase's Edge Runtime (1.58 and later, which
// `supabase functions serve` runs too) call the default export's fetch. Calling Deno.serve
// here as well would start a second server on the same port.
import { fetch } from "./dist/edge.js";

export default { fetch } satisfies Deno.ServeDefaultExport;
