// Every router of the app comes from here: an OpenAPIHono whose request validation answers
// in the agent-facing error shape (validation.ts), so no route file wires that up itself,
// and whose openapi() refuses a route the document could not describe fully (openapi.ts).
import { type Hook, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./context.ts";
import { assertDocumented } from "./openapi.ts";
import { validationHook } from "./validation.ts";

/** A router for the app's routes; defaultHook replaces the shared validation answer for one that needs its own. */
// deno-lint-ignore no-explicit-any -- a hook for routes of every shape, like validationHook
export function createRouter(defaultHook: Hook<any, AppEnv, any, any> = validationHook) {
  const router = new OpenAPIHono<AppEnv>({ defaultHook });
  const register = router.openapi;
  router.openapi = ((...args: Parameters<typeof register>) => {
    assertDocumented(args[0]);
    return register(...args);
  }) as typeof register;
  return router;
}
