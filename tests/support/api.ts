// A small HTTP client for the tests: real requests to the running API.
import { randomUUID } from "node:crypto";
import { inject } from "vitest";

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
  const response = await fetch(`${baseUrl()}${url}`, { method, headers, body });
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

/** A client bound to one workspace's key. */
export function as(workspace: Workspace) {
  const key = workspace.apiKey;
  return {
    get: <T = any>(path: string, options: RequestOptions = {}) => call<T>("GET", path, undefined, { key, ...options }),
    post: <T = any>(path: string, json?: unknown, options: RequestOptions = {}) => call<T>("POST", path, json, { key, ...options }),
    put: <T = any>(path: string, json?: unknown, options: RequestOptions = {}) => call<T>("PUT", path, json, { key, ...options }),
    patch: <T = any>(path: string, json?: unknown, options: RequestOptions = {}) => call<T>("PATCH", path, json, { key, ...options }),
    delete: <T = any>(path: string, options: RequestOptions = {}) => call<T>("DELETE", path, undefined, { key, ...options }),
  };
}

export const lead = (overrides: Record<string, unknown> = {}) => ({
  firstName: "Jane",
  lastName: "Doe",
  email: uniqueEmail("lead"),
  organizationName: "Acme Clinic",
  ...overrides,
});
