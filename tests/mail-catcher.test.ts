import nodemailer from "nodemailer";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type MailCatcher, startMailCatcher } from "../functions/node/mail-catcher.ts";

let catcher: MailCatcher;
beforeAll(async () => {
  catcher = await startMailCatcher({ smtpPort: 0, httpPort: 0, cap: 3 });
});
afterAll(() => catcher.close());
beforeEach(async () => {
  await fetch(`${catcher.httpUrl}messages`, { method: "DELETE" });
});

async function sendMail(subject: string, extra: Record<string, unknown> = {}) {
  const transport = nodemailer.createTransport(catcher.smtpUrl);
  try {
    return await transport.sendMail({ from: "Acme <crm@acme.test>", to: "jane@example.test", subject, text: "Hello Jane", ...extra });
  } finally {
    transport.close();
  }
}

describe("local mail catcher", () => {
  it("accepts mail over SMTP and serves it as JSON with headers, text and html", async () => {
    await sendMail("Welcome", {
      html: "<p>Hello <b>Jane</b></p>",
      messageId: "<msg_1@crm.test>",
      headers: { "List-Unsubscribe": "<https://crm.test/u/t>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" },
    });
    const list = await (await fetch(`${catcher.httpUrl}messages`)).json();
    expect(list.messages).toHaveLength(1);
    expect(list.messages[0]).toMatchObject({ subject: "Welcome", to: "jane@example.test", messageId: "<msg_1@crm.test>", envelope: { from: "crm@acme.test", to: ["jane@example.test"] } });
    const one = await (await fetch(`${catcher.httpUrl}messages/${list.messages[0].id}`)).json();
    expect(one.text.trim()).toBe("Hello Jane");
    expect(one.html).toBe("<p>Hello <b>Jane</b></p>");
    expect(one.headers["list-unsubscribe"]).toBe("<https://crm.test/u/t>");
    expect(one.headers["list-unsubscribe-post"]).toBe("List-Unsubscribe=One-Click");
    expect((await fetch(`${catcher.httpUrl}messages/nope`)).status).toBe(404);
  });

  it("shows the inbox as an HTML page with every message field escaped", async () => {
    await sendMail(`<img src=x onerror="alert(1)">`, { text: "<script>steal()</script>" });
    const res = await fetch(catcher.httpUrl);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const page = await res.text();
    expect(page).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
    expect(page).toContain("&lt;script&gt;steal()&lt;/script&gt;");
    expect(page).not.toContain("<script>");
    expect(page).not.toContain("<img");
  });

  it("keeps only the newest messages up to its cap, newest first, and empties on DELETE", async () => {
    for (const subject of ["one", "two", "three", "four"]) await sendMail(subject);
    const list = await (await fetch(`${catcher.httpUrl}messages`)).json();
    expect(list.messages.map((m: { subject: string }) => m.subject)).toEqual(["four", "three", "two"]);
    expect(await (await fetch(`${catcher.httpUrl}messages`, { method: "DELETE" })).json()).toEqual({ deleted: true });
    expect((await (await fetch(`${catcher.httpUrl}messages`)).json()).messages).toEqual([]);
  });
});
