// Every router of the app comes from here: an OpenAPIHono whose request validation answers
// in the agent-facing error shape (validation.ts), so no route file wires that up itself,
// and whose openapi() refuses a route the document could not describe fully (openapi.ts).
// Every route it registers also gets the payload checks (caps.ts): its body passes
// bodyGuard before it is parsed, and every value the route validated (body, query, path) is
// refused with 400 invalid_characters when a string holds NUL or an unpaired surrogate.
import { type Hook, OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { bodyGuard } from "./body.ts";
import type { AppEnv } from "./context.ts";
import { errorReply } from "./errors.ts";
import { assertDocumented } from "./openapi.ts";
import { characterError, validationHook } from "./validation.ts";

// deno-lint-ignore no-explicit-any -- a hook for routes of every shape, like validationHook
type AnyHook = Hook<any, AppEnv, any, any>;

/** hook, after the character check of what validated successfully. */
const withCharacterCheck = (hook: AnyHook): AnyHook => (result, c) => {
  if (result.success) {
    const refused = characterError(result.data, result.target);
    if (refused) return errorReply(c, refused);
  }
  return hook(result, c);
};

const asList = (middleware: RouteConfig["middleware"]): MiddlewareHandler[] =>
  middleware === undefined ? [] : (Array.isArray(middleware) ? middleware : [middleware]) as MiddlewareHandler[];

/** A router for the app's routes; defaultHook replaces the shared validation answer for one that needs its own. */
export function createRouter(defaultHook: AnyHook = validationHook) {
  const router = new OpenAPIHono<AppEnv>({ defaultHook: withCharacterCheck(defaultHook) });
  const register = router.openapi;
  router.openapi = ((...args: Parameters<typeof register>) => {
    const [route, handler, hook] = args;
    assertDocumented(route);
    const guarded = { ...route, middleware: [...asList(route.middleware), bodyGuard] };
    return register(guarded as typeof route, handler, hook && withCharacterCheck(hook));
  }) as typeof register;
  return router;
}
