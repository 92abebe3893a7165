// The stdio entry for desktop agents (bin/openclaw-crm.mjs mcp), run with plain node as an agent
// app would start it, driven by the SDK's own client over stdio: it forwards to the running
// test API's /mcp, so it offers the same tools and the same replies.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { as, expectOk, lead, signup, type Workspace } from "./support/api.ts";

const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "bin", "openclaw-crm.mjs");
const clients: Client[] = [];

/** The bin started by the SDK's stdio transport, with the given arguments and environment. */
async function start(args: string[], env: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: "vitest-stdio", version: "1.0.0" });
  const transport = new StdioClientTransport({ command: process.execPath, args: [bin, "mcp", ...args], env: { PATH: process.env.PATH ?? "", ...env }, stderr: "pipe" });
  await client.connect(transport);
  clients.push(client);
  return client;
}

/** Runs the bin to its end and returns its exit code and stderr. */
function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("exit", (code) => resolve({ code, stderr }));
  });
}

let ws: Workspace;
beforeAll(async () => {
  ws = await signup();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

describe("openclaw-crm mcp (stdio)", () => {
  it("offers the server's tools and forwards a call, given --url and --key", async () => {
    const client = await start(["--url", inject("apiUrl"), "--key", ws.apiKey]);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["createLead", "getLead", "enrichLead", "listStalledLeads", "scoreLeads"]));
    expect(tools.find((t) => t.name === "getLead")!.annotations).toMatchObject({ readOnlyHint: true });
    expect(client.getInstructions()).toMatch(/getHealth/);

    const created = await client.callTool({ name: "createLead", arguments: lead({ firstName: "Stdio" }) });
    expect(created.isError).toBeFalsy();
    const id = (created.structuredContent as { id: string }).id;
    expect(expectOk(await as(ws).get(`/leads/${id}`)).lead.firstName).toBe("Stdio");
  });

  it("reads OPENCLAW_URL and OPENCLAW_API_KEY, and passes tool errors, resources and prompts through", async () => {
    const client = await start([], { OPENCLAW_URL: `${inject("apiUrl")}/mcp`, OPENCLAW_API_KEY: ws.apiKey });
    const missing = await client.callTool({ name: "getLead", arguments: { leadId: "rp_000000000000000000000000" } });
    expect(missing.isError).toBe(true);
    expect((missing.content as { text: string }[])[0]!.text).toMatch(/^Error 404 not_found: .+\nHint: /);
    const pipeline = await client.readResource({ uri: "crm://pipeline" });
    expect(JSON.parse((pipeline.contents[0] as { text: string }).text)).toMatchObject({ stages: expect.any(Array), stalledLeads: 0 });
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name)).toContain("follow_up_stalled_leads");
  });

  it("exits with a message when the key is refused or missing", async () => {
    const refused = await run(["mcp", "--url", inject("apiUrl"), "--key", `rcm_live_${"0".repeat(64)}`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/cannot connect to .*\/mcp: .*invalid_api_key/);
    const none = await run(["mcp", "--url", inject("apiUrl")]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no API key: pass --key/);
  });
});
