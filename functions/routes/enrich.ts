import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../context.ts";
import { validationHook } from "../validation.ts";

export const enrichRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
