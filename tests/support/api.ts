// A small HTTP client for the tests: real requests to the running API.
import { randomUUID } from "node:crypto";
import { expect, inject } from "vitest";

export const baseUrl = () => inject("apiUrl");
export const API = "/api/openclaw";

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface RequestOptions {
  key?: string;
  headers?: Record<string, string>;
  /** Sent as-is (for malformed-body tests); otherwise `json` is serialised. */
  raw?: string;
  /** Another app's address (one a test started with settings of its own, tests/support/app.ts); default the suite's. */
  base?: string;
}

export async function call<T = any>(method: string, path: string, json?: unknown, options: RequestOptions = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  let body: string | undefined = options.raw;
  if (json !== undefined && body === undefined) body = JSON.stringify(json);
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
    headers["content-type"] = "application/json";
  }
  const url = path.startsWith("/api/") || path.startsWith("/openapi") || path.startsWith("/openclaw") || path === "/api-docs"
    ? path : `${API}${path}`;
  const response = await fetch(`${options.base ?? baseUrl()}${url}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // non-JSON bodies (HTML docs) stay text
  }
  return { status: response.status, body: parsed as T, headers: response.headers };
}

export interface Workspace {
  orgId: string;
  apiKey: string;
  email: string;
}

export const uniqueEmail = (label = "owner") => `${label}-${randomUUID()}@example.com`;

/** Signs up a fresh org for one test file or test. */
export async function signup(overrides: Record<string, unknown> = {}): Promise<Workspace> {
  const email = uniqueEmail();
  const res = await call("POST", "/signup", {
    email, workspace_name: "Test Workspace", agent_name: "vitest", agent_platform: "openclaw", ...overrides,
  });
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { orgId: res.body.orgId, apiKey: res.body.apiKey, email };
}

/** A client bound to one workspace's key (at another app's address when base is given). */
export function as(workspace: Workspace, base?: string) {
  const key = workspace.apiKey;
  return {
    get: <T = any>(path: string, options: RequestOptions = {}) => call<T>("GET", path, undefined, { key, base, ...options }),
    post: <T = any>(path: string, json?: unknown, options: RequestOptions = {}) => call<T>("POST", path, json, { key, base, ...options }),
    put: <T = any>(path: string, json?: unknown, options: RequestOptions = {}) => call<T>("PUT", path, json, { key, base, ...options }),
    patch: <T = any>(path: string, json?: unknown, options: RequestOptions = {}) => call<T>("PATCH", path, json, { key, base, ...options }),
    delete: <T = any>(path: string, options: RequestOptions = {}) => call<T>("DELETE", path, undefined, { key, base, ...options }),
  };
}

export const lead = (overrides: Record<string, unknown> = {}) => ({
  firstName: "Jane",
  lastName: "Doe",
  email: uniqueEmail("lead"),
  organizationName: "Acme Clinic",
  ...overrides,
});

/**
 * Asserts the error envelope every failure answers with:
 * { success: false, error: { code, message, hint, ... }, warnings: [], next_steps: [...] }.
 * Returns error for further assertions.
 */
export function expectError(res: ApiResponse, status: number, code?: string): any {
  expect(res.status, `unexpected status; body: ${JSON.stringify(res.body)}`).toBe(status);
  expect(res.headers.get("content-type") ?? "").toMatch(/^application\/json/);
  expect(res.body).toMatchObject({
    success: false,
    error: { code: expect.any(String), message: expect.any(String), hint: expect.any(String) },
    warnings: [],
    next_steps: expect.any(Array),
  });
  expect(Object.keys(res.body).sort()).toEqual(["error", "next_steps", "success", "warnings"]);
  expect(res.body.error.code).not.toBe("");
  expect(res.body.error.message).not.toBe("");
  expect(res.body.error.hint).not.toBe("");
  for (const step of res.body.next_steps) expect(typeof step).toBe("string");
  if (code !== undefined) expect(res.body.error.code).toBe(code);
  return res.body.error;
}

/** Asserts a success envelope with the given status and returns the body. */
export function expectOk(res: ApiResponse, status = 200): any {
  expect(res.status, `unexpected status; body: ${JSON.stringify(res.body)}`).toBe(status);
  expect(res.body).toMatchObject({ success: true, warnings: expect.any(Array), next_steps: expect.any(Array) });
  return res.body;
}

type Client = ReturnType<typeof as>;

/**
 * Arrange step: creates one lead through the API (lead()'s defaults, `fields` over them)
 * and returns its id. Any client with post() will do: as(workspace), a test stack's as().
 */
export async function createLead(client: Pick<Client, "post">, fields: Record<string, unknown> = {}): Promise<string> {
  return expectOk(await client.post("/leads", lead(fields)), 201).id;
}

/**
 * Arrange step: creates `count` leads through the API in parallel batches and returns
 * their ids in creation order of the batches (order inside a batch is not defined).
 */
export async function createLeads(client: Client, count: number, overrides: (i: number) => Record<string, unknown> = () => ({}), batchSize = 20): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += batchSize) {
    const batch = Array.from({ length: Math.min(batchSize, count - start) }, (_, j) => client.post("/leads", lead(overrides(start + j))));
    for (const res of await Promise.all(batch)) {
      if (res.status !== 201) throw new Error(`arrange: lead create failed: ${res.status} ${JSON.stringify(res.body)}`);
      ids.push(res.body.id);
    }
  }
  return ids;
}
