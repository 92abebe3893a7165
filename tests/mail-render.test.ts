import { describe, expect, it } from "vitest";
import { composeEmail, messageId, renderContent, renderTemplate, unsubscribeUrl } from "../functions/mail/render.ts";
import { mailConfig, sampleClaim } from "./support/smtp.ts";

const options = mailConfig();

describe("mail rendering", () => {
  it("fills every template variable from the claim", () => {
    const claim = sampleClaim({
      subject: "{{firstName}}|{{lastName}}|{{organizationName}}|{{businessType}}",
      body: "{{proposalUrl}} {{ email }} {{phone}}",
    });
    expect(renderContent(claim)).toEqual({
      subject: "Jane|Doe|Acme Clinic|dental",
      body: "https://example.test/p/1 jane@acme.test +1 555 0100",
    });
  });

  it("makes the proposal page's path absolute with the public URL, and keeps a full URL an agent set", () => {
    const page = sampleClaim({ body: "{{proposalUrl}}", variables: { ...sampleClaim().variables, proposalUrl: "/p/acme-k3v9x2qa" } });
    expect(renderContent(page, "https://crm.example.test/").body).toBe("https://crm.example.test/p/acme-k3v9x2qa");
    const custom = sampleClaim({ body: "{{proposalUrl}}" });
    expect(renderContent(custom, "https://crm.example.test").body).toBe("https://example.test/p/1");
  });

  it("renders a missing value (no proposal yet) as empty and leaves unknown names as written", () => {
    const claim = sampleClaim({ variables: { ...sampleClaim().variables, proposalUrl: null } });
    expect(renderTemplate("[{{proposalUrl}}] {{nope}}", claim.variables)).toBe("[] {{nope}}");
  });

  it("HTML-escapes values and text in the HTML part and keeps them raw in the text part", () => {
    const claim = sampleClaim({
      body: "Hi {{firstName}} & team <b>bold</b>\n\nSee https://example.test/a?x=1&y=2.",
      variables: { ...sampleClaim().variables, firstName: `<script>alert("x")</script>` },
    });
    const email = composeEmail(claim, renderContent(claim), options);
    expect(email.text).toContain(`Hi <script>alert("x")</script> & team <b>bold</b>`);
    expect(email.html).not.toContain("<script>");
    expect(email.html).toContain("Hi &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; team &lt;b&gt;bold&lt;/b&gt;");
    expect(email.html).toContain(`<a href="https://example.test/a?x=1&amp;y=2">https://example.test/a?x=1&amp;y=2</a>.`);
  });

  it("keeps the subject on one header line", () => {
    const claim = sampleClaim({ subject: "Hello\r\nBcc: victim@example.test {{firstName}}" });
    const email = composeEmail(claim, renderContent(claim), options);
    expect(email.subject).toBe("Hello Bcc: victim@example.test Jane");
  });

  it("sets a Message-ID fixed by the outbox id and RFC 8058 one-click unsubscribe headers", () => {
    const claim = sampleClaim();
    const email = composeEmail(claim, renderContent(claim), options);
    const url = "https://crm.example.test/api/openclaw/email/unsubscribe/tok_abc123";
    expect(email.messageId).toBe("<msg_0123456789abcdef@crm.example.test>");
    expect(messageId(claim.id, "crm.example.test")).toBe(email.messageId);
    expect(unsubscribeUrl("https://crm.example.test/", "tok_abc123")).toBe(url);
    expect(email.headers).toEqual({ "List-Unsubscribe": `<${url}>`, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" });
    expect(email.unsubscribeUrl).toBe(url);
  });

  it("ends both parts with the unsubscribe footer", () => {
    const claim = sampleClaim();
    const email = composeEmail(claim, { subject: "s", body: "b" }, options);
    expect(email.text).toMatch(/Unsubscribe: https:\/\/crm\.example\.test\/api\/openclaw\/email\/unsubscribe\/tok_abc123\n$/);
    expect(email.html).toContain(`<a href="https://crm.example.test/api/openclaw/email/unsubscribe/tok_abc123">Unsubscribe</a>`);
    expect(email.text).toContain("in touch with Acme Growth");
  });
});
