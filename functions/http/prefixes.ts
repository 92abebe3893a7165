// Where the app answers. A leaf, so modules that build links (quiz URLs, next steps) can
// name the prefix without importing the app that mounts the routes.

/** The contract's routes. */
export const API_PREFIX = "/api/openclaw";
/** Supabase serves the Edge Function under its name: /functions/v1/openclaw/… arrives as /openclaw/…. */
export const FUNCTION_PREFIX = "/openclaw";
