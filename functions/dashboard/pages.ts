// The dashboard's pages, rendered on the server with Hono's `html` tagged template: every
// interpolated value is escaped by it (the app's one HTML escaper, http/page.ts), so a lead
// named <script>… is shown as text. Pages carry no inline script or style: our script and
// stylesheet and the chart library come from /app/assets/ (assets.ts), chart data sits in
// <script type="application/json"> blocks (never executed; "<" written as \u003c so the
// data cannot close the block), and the CSP (routes/dashboard.ts) allows nothing else.
//
// Links are relative (`base` is the way from the page back to /app/), so the dashboard works
// at the root and under any prefix (the Edge Function's /functions/v1/openclaw).
// Writes are forms marked data-action; the script sends them to the JSON API (static/dashboard.js).
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { scoreLabels } from "../http/enums.ts";
import type { Assets } from "./assets.ts";
import type { Analytics, BoardFilter, BoardLead, BoardStage, CampaignRow, KeyRow, LeadPage, MemberRow, StalledLead, Viewer } from "./data.ts";

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

export type Section = "board" | "stalled" | "analytics" | "campaigns" | "settings";

export interface Shell {
  /** The relative way back to /app/ ("./" on /app/ and /app/stalled, "../" on /app/leads/…). */
  base: string;
  viewer: Viewer;
  csrfToken: string;
  assets: Assets;
}

const sections: [Section, string, string][] = [
  ["board", "Pipeline", ""],
  ["stalled", "Stalled", "stalled"],
  ["analytics", "Analytics", "analytics"],
  ["campaigns", "Campaigns", "campaigns"],
  ["settings", "Settings", "settings"],
];

const when = (at: Date | string | null | undefined) =>
  at ? new Date(at).toISOString().slice(0, 16).replace("T", " ") + " UTC" : "—";
const days = (n: number) => (n === 1 ? "1 day" : `${n} days`);
const percent = (rate: number | null | undefined) => (rate === null || rate === undefined ? "—" : `${Math.round(rate * 1000) / 10} %`);

/** JSON for a <script type="application/json"> block: "<" escaped, so no "</script>" ends it early. */
const jsonBlock = (id: string, data: unknown) =>
  html`<script type="application/json" id="${id}">${raw(JSON.stringify(data).replace(/</g, "\\u003c"))}</script>`;

export function layout(shell: Shell, page: { title: string; section?: Section; charts?: boolean }, body: Html): Html {
  const { base, viewer, assets } = shell;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<meta name="csrf-token" content="${shell.csrfToken}">
<meta name="api-base" content="${base}../api/openclaw/">
<meta name="sign-in" content="${base}../api/openclaw/auth/sign-in">
<title>${page.title} · ${viewer.workspaceName}</title>
<link rel="stylesheet" href="${base}assets/${assets.names["dashboard.css"]}">
${page.charts ? html`<script src="${base}assets/${assets.names["chart.umd.min.js"]}" defer></script>` : ""}
<script src="${base}assets/${assets.names["dashboard.js"]}" defer></script>
</head>
<body>
<header class="top">
<strong class="brand">${viewer.workspaceName}</strong>
<nav aria-label="Dashboard">
${sections.map(([key, label, path]) => html`<a href="${base}${path || "./"}"${key === page.section ? raw(' aria-current="page"') : ""}>${label}</a> `)}
</nav>
<span class="who">${viewer.email} <span class="role">${viewer.role}</span></span>
<form data-action="sign-out"><button type="submit" class="link">Sign out</button></form>
</header>
${viewer.canWrite ? "" : html`<p class="notice">You are a viewer: you can read everything of this workspace and change nothing.</p>`}
<p id="flash" role="alert" hidden></p>
<main>
${body}
</main>
</body>
</html>`;
}

const labelBadge = (label: string | null, score: number | null) =>
  html`<span class="label label-${label ?? "unscored"}">${label ?? "unscored"}${score === null ? "" : html` ${score}`}</span>`;

function moveForm(leadId: string, stages: BoardStage[], current: string | null): Html {
  return html`<form data-action="move" data-lead="${leadId}" class="move">
<label>Stage <select name="stage">${stages.map((s) => html`<option value="${s.id}"${s.id === current ? raw(" selected") : ""}>${s.name}</option>`)}</select></label>
<button type="submit">Move</button>
</form>`;
}

// ---------------------------------------------------------------------------
// The board
// ---------------------------------------------------------------------------
function card(lead: BoardLead, stages: BoardStage[]): Html {
  return html`<article class="card" data-lead-id="${lead.id}">
<h3><a href="leads/${lead.id}">${lead.name}</a></h3>
${lead.company ? html`<p class="company">${lead.company}</p>` : ""}
<p class="meta">${labelBadge(lead.scoreLabel, lead.score)} <span class="touch">${days(lead.daysSinceTouch)} since touch</span></p>
${moveForm(lead.id, stages, lead.stageId)}
</article>`;
}

export function boardPage(shell: Shell, board: { stages: BoardStage[]; leads: BoardLead[]; matching: number; tiers: string[] }, filter: BoardFilter, limit: number): Html {
  const byStage = new Map<string | null, BoardLead[]>();
  for (const lead of board.leads) byStage.set(lead.stageId, [...(byStage.get(lead.stageId) ?? []), lead]);
  const unstaged = byStage.get(null) ?? [];
  const filtered = Boolean(filter.tier || filter.label || filter.q);
  const option = (value: string, label: string, selected: string | undefined) =>
    html`<option value="${value}"${value === selected ? raw(" selected") : ""}>${label}</option>`;
  const column = (id: string, name: string, count: number, leads: BoardLead[]) => html`<section class="column" data-stage-id="${id}" aria-label="${name}">
<h2>${name} <span class="count" title="leads in this stage">${count}</span></h2>
${filtered ? html`<p class="shown">${leads.length} shown</p>` : ""}
${leads.map((lead) => card(lead, board.stages))}
</section>`;
  return layout(shell, { title: "Pipeline", section: "board" }, html`<h1>Pipeline</h1>
<form method="get" class="filters" role="search">
<label>Tier <select name="tier">${option("", "any", filter.tier)}${board.tiers.map((t) => option(t, t, filter.tier))}</select></label>
<label>Score <select name="label">${option("", "any", filter.label)}${[...scoreLabels, "unscored"].map((l) => option(l, l, filter.label))}</select></label>
<label>Search <input type="search" name="q" value="${filter.q ?? ""}" placeholder="name, email, company"></label>
<button type="submit">Filter</button>
${filtered ? html`<a href="./">Clear</a>` : ""}
</form>
<p class="summary">${board.matching} lead(s)${filtered ? " match" : ""}${board.matching > limit ? html`; the ${limit} highest scored are shown` : ""}.</p>
<div class="board">
${board.stages.map((s) => column(s.id, s.name, s.leadCount, byStage.get(s.id) ?? []))}
${unstaged.length > 0 ? column("", "(no stage)", unstaged.length, unstaged) : ""}
</div>`);
}

// ---------------------------------------------------------------------------
// A lead
// ---------------------------------------------------------------------------
const isScalar = (v: unknown): v is string | number | boolean => ["string", "number", "boolean"].includes(typeof v);

function facts(doc: Record<string, unknown> | null | undefined): Html {
  const entries = Object.entries(doc ?? {}).filter(([, v]) => isScalar(v) || (Array.isArray(v) && v.every(isScalar)));
  if (entries.length === 0) return html`<p class="empty">None.</p>`;
  return html`<dl class="facts">${entries.map(([k, v]) => html`<dt>${k}</dt><dd>${Array.isArray(v) ? v.join(", ") : String(v)}</dd>`)}</dl>`;
}

export function leadPage(shell: Shell, page: LeadPage): Html {
  const { lead, score, proposal } = page;
  const name = [lead.firstName, lead.lastName].filter(Boolean).join(" ");
  const enrichment = lead.enrichment ?? {};
  const enrichmentFacts = (typeof enrichment.facts === "object" && enrichment.facts) ? enrichment.facts as Record<string, unknown> : {};
  const points = Array.isArray(enrichment.discussionPoints) ? enrichment.discussionPoints as { topic?: unknown; detail?: unknown }[] : [];
  const field = (label: string, value: unknown) => html`<dt>${label}</dt><dd>${value === null || value === undefined || value === "" ? "—" : String(value)}</dd>`;
  return layout(shell, { title: name }, html`<p><a href="../">← Pipeline</a></p>
<h1 id="lead-name">${name}</h1>
<p class="meta">${lead.company ?? ""} ${labelBadge(lead.scoreLabel, lead.score)} <span class="touch">${days(lead.daysSinceTouch)} since touch</span>
${lead.deletedAt ? html`<strong>deleted ${when(lead.deletedAt)}</strong>` : ""}</p>
<section aria-labelledby="stage-title"><h2 id="stage-title">Stage: <span id="current-stage">${lead.stage ?? "(none)"}</span></h2>
${moveForm(lead.id, page.stages, lead.stageId)}</section>

<div class="columns">
<section aria-labelledby="fields-title"><h2 id="fields-title">Fields</h2>
<dl class="facts">
${field("Email", lead.email)}${field("Phone", lead.phone)}${field("Title", lead.title)}${field("Seniority", lead.seniority)}
${field("Company", lead.company)}${field("Business type", lead.businessType)}${field("Company size", lead.companySize)}
${field("Revenue", lead.companyRevenue)}${field("LinkedIn", lead.linkedinUrl)}${field("Tier", lead.tier)}${field("Status", lead.status)}
${field("Source", lead.source)}${field("Created by", lead.createdBy)}${field("Created", when(lead.createdAt))}${field("Last touch", when(lead.lastTouchAt))}
</dl>
<h3>CRM data</h3>${facts(lead.crmData)}
<h3>Custom fields</h3>${facts(lead.customFields)}
</section>

<section aria-labelledby="enrichment-title"><h2 id="enrichment-title">Enrichment <span class="muted">${lead.enrichmentStatus}</span></h2>
${facts(enrichmentFacts)}
<h3>Discussion points</h3>
${points.length ? html`<ul>${points.map((p) => html`<li><strong>${String(p.topic ?? "")}</strong> ${String(p.detail ?? "")}</li>`)}</ul>` : html`<p class="empty">None.</p>`}
</section>

<section aria-labelledby="score-title"><h2 id="score-title">Score</h2>
${score ? html`<p>${labelBadge(score.label, score.score)} · suggested: <strong>${score.suggestedAction}</strong></p>
<table><thead><tr><th>Factor</th><th>Points</th><th>Why</th></tr></thead><tbody>
${score.factors.map((f) => html`<tr><td>${f.factor}</td><td class="num">${f.points}</td><td>${f.detail}</td></tr>`)}
</tbody></table>` : html`<p class="empty">Not scored.</p>`}
</section>
</div>

<section aria-labelledby="notes-title"><h2 id="notes-title">Notes</h2>
<form data-action="note" data-lead="${lead.id}" class="note-form">
<label>New note <textarea name="content" rows="3" required maxlength="10000"></textarea></label>
<label class="inline"><input type="checkbox" name="pinned" value="true"> Pin it</label>
<button type="submit">Add note</button>
</form>
<ul class="notes" id="notes">
${page.notes.map((n) => html`<li class="${n.pinned ? "pinned" : ""}"><p class="note">${n.content}</p>
<p class="muted">${n.pinned ? "📌 pinned · " : ""}${n.type} · ${when(n.createdAt)} · ${n.createdBy}</p>
<form data-action="pin" data-note="${n.id}" data-pinned="${n.pinned ? "false" : "true"}"><button type="submit" class="link">${n.pinned ? "Unpin" : "Pin"}</button></form></li>`)}
</ul>
${page.notes.length === 0 ? html`<p class="empty">No notes yet.</p>` : ""}
</section>

<section aria-labelledby="touchpoints-title"><h2 id="touchpoints-title">Touchpoints</h2>
${page.touchpoints.length ? html`<table><thead><tr><th>When</th><th>Type</th><th>Direction</th><th>Summary</th><th>By</th></tr></thead><tbody>
${page.touchpoints.map((t) => html`<tr><td>${when(t.occurredAt)}</td><td>${t.type}</td><td>${t.direction ?? ""}</td><td>${t.summary ?? ""}</td><td>${t.createdBy}</td></tr>`)}
</tbody></table>` : html`<p class="empty">No touchpoints yet.</p>`}
</section>

<section aria-labelledby="timeline-title"><h2 id="timeline-title">Timeline</h2>
<ol class="timeline" id="timeline">
${page.timeline.map((e) => html`<li class="${e.kind}"><time>${when(e.at)}</time> ${e.kind === "stage" ? html`<strong>Stage</strong> ${e.detail}` : html`<strong>${e.type}</strong> <code>${e.detail === "{}" ? "" : e.detail}</code>`} <span class="muted">${e.by ?? ""}</span></li>`)}
</ol>
</section>

<div class="columns">
<section aria-labelledby="proposal-title"><h2 id="proposal-title">Proposal</h2>
${proposal ? html`<p><a href="${shell.base}../p/${proposal.slug}?preview=${proposal.previewToken}" rel="noopener">Preview the proposal page</a> (${proposal.published ? "published" : "not published"}; previews are not counted)</p>
<dl class="facts">
<dt>Views</dt><dd>${proposal.tracking.totalViews}</dd>
<dt>Time on page</dt><dd>${Math.round(proposal.tracking.timeOnPage)} s</dd>
<dt>Sections seen</dt><dd>${proposal.tracking.sectionsViewed.join(", ") || "—"}</dd>
<dt>Video watched</dt><dd>${proposal.tracking.videoCompletion} %</dd>
<dt>CTA clicks</dt><dd>${proposal.tracking.ctaClicks}</dd>
<dt>Last viewed</dt><dd>${when(proposal.tracking.lastViewedAt)}</dd>
</dl>` : html`<p class="empty">No proposal.</p>`}
</section>

<section aria-labelledby="enrolments-title"><h2 id="enrolments-title">Campaign enrolments</h2>
${page.enrolments.length ? html`<table><thead><tr><th>Campaign</th><th>Status</th><th>Step</th><th>Enrolled</th></tr></thead><tbody>
${page.enrolments.map((e) => html`<tr><td>${e.campaign}</td><td>${e.status}${e.stopReason ? html` (${e.stopReason})` : ""}</td><td class="num">${e.currentStep + 1}</td><td>${when(e.enrolledAt)}</td></tr>`)}
</tbody></table>` : html`<p class="empty">Not in any campaign.</p>`}
</section>
</div>`);
}

// ---------------------------------------------------------------------------
// Stalled, analytics, campaigns, settings
// ---------------------------------------------------------------------------
const actions: Record<string, string> = {
  check_in_call: "Call to check in",
  send_follow_up_email: "Send a follow-up email",
  send_breakup_email: "Send a break-up email",
};

export function stalledPage(shell: Shell, stalled: { leads: StalledLead[]; total: number }): Html {
  return layout(shell, { title: "Stalled leads", section: "stalled" }, html`<h1>Stalled leads <span class="count">${stalled.total}</span></h1>
<p class="muted">Leads without a touch for longer than their stage allows, most urgent first. Logging a touchpoint clears a lead from this list.</p>
${stalled.leads.length ? html`<table class="wide"><thead><tr><th>Lead</th><th>Stage</th><th>Idle</th><th>Why</th><th>Suggested action</th><th>Priority</th></tr></thead><tbody>
${stalled.leads.map((l) => html`<tr><td><a href="leads/${l.leadId}">${l.name}</a><br><span class="muted">${l.email}</span></td><td>${l.stage}</td><td class="num">${days(l.daysSinceTouch)}</td>
<td>${l.stalledReason}</td><td><strong>${actions[l.suggestedAction] ?? l.suggestedAction}</strong></td><td><span class="priority priority-${l.priority}">${l.priority}</span></td></tr>`)}
</tbody></table>` : html`<p class="empty">Nothing is stalled.</p>`}`);
}

const scoreOrder = [...scoreLabels, "unscored"] as const;

export function analyticsPage(shell: Shell, doc: Analytics): Html {
  const stages = doc.stageConversion.map((s) => s.stage);
  const charts = {
    // In pipeline order (the JSON object's keys come back in jsonb's order, not the pipeline's).
    funnel: { labels: stages, values: stages.map((stage) => doc.pipeline[stage] ?? 0) },
    conversion: {
      labels: stages,
      movedOn: doc.stageConversion.map((s) => (s.movedOnRate === null ? null : s.movedOnRate * 100)),
      won: doc.stageConversion.map((s) => (s.winRate === null ? null : s.winRate * 100)),
    },
    scores: { labels: scoreOrder, values: scoreOrder.map((label) => doc.scoreDistribution[label]) },
    activity: {
      labels: doc.activityPerDay.map((d) => d.date),
      events: doc.activityPerDay.map((d) => d.events),
      touchpoints: doc.activityPerDay.map((d) => d.touchpoints),
      stageMoves: doc.activityPerDay.map((d) => d.stageMoves),
    },
  };
  const figure = (id: string, title: string) =>
    html`<figure class="chart"><figcaption>${title}</figcaption><canvas data-chart="${id}" role="img" aria-label="${title}"></canvas></figure>`;
  return layout(shell, { title: "Analytics", section: "analytics", charts: true }, html`<h1>Analytics</h1>
<form method="get" class="filters"><label>Window <select name="days">
${[7, 30, 90, 365].map((d) => html`<option value="${d}"${d === doc.period.days ? raw(" selected") : ""}>last ${d} days</option>`)}
</select></label><button type="submit">Show</button></form>
<dl class="kpis">
<div><dt>Leads</dt><dd>${doc.totalLeads}</dd></div>
<div><dt>New in window</dt><dd>${doc.leadsInPeriod}</dd></div>
<div><dt>Won / lost</dt><dd>${doc.leadsWon} / ${doc.leadsLost}</dd></div>
<div><dt>Conversion</dt><dd>${percent(doc.conversionRate)}</dd></div>
<div><dt>Proposal views</dt><dd>${doc.proposalViews}</dd></div>
<div><dt>Meetings booked</dt><dd>${doc.meetingsBooked}</dd></div>
</dl>
<div class="charts">
${figure("funnel", "Leads per stage (funnel)")}
${figure("conversion", "Conversion by stage: moved on and won (%)")}
${figure("scores", "Score distribution")}
${figure("activity", "Activity per day")}
</div>
<table><caption>Conversion by stage</caption><thead><tr><th>Stage</th><th>Entered</th><th>Moved on</th><th>Won</th></tr></thead><tbody>
${doc.stageConversion.map((s) => html`<tr><td>${s.stage}</td><td class="num">${s.entered}</td><td class="num">${percent(s.movedOnRate)}</td><td class="num">${percent(s.winRate)}</td></tr>`)}
</tbody></table>
${jsonBlock("chart-data", charts)}`);
}

export function campaignsPage(shell: Shell, campaigns: CampaignRow[]): Html {
  return layout(shell, { title: "Campaigns", section: "campaigns" }, html`<h1>Campaigns</h1>
${campaigns.length ? html`<table class="wide"><thead><tr><th>Campaign</th><th>Status</th><th>Steps</th><th>Enrolled</th><th>Sent</th><th>Opened</th><th>Replied</th><th>Bounced</th><th>Unsubscribed</th></tr></thead><tbody>
${campaigns.map((c) => html`<tr><td>${c.name}${c.kind === "adhoc" ? html` <span class="muted">(one lead)</span>` : ""}</td><td>${c.status}</td><td class="num">${c.steps}</td>
<td class="num">${c.stats.enrolled}</td><td class="num">${c.stats.sent}</td><td class="num">${c.stats.opened}</td><td class="num">${c.stats.replied}</td><td class="num">${c.stats.bounced}</td><td class="num">${c.stats.unsubscribed}</td></tr>`)}
</tbody></table>` : html`<p class="empty">No campaigns yet. Agents create them with POST /api/openclaw/campaigns.</p>`}`);
}

const roles = ["owner", "admin", "member", "viewer"] as const;

export function settingsPage(shell: Shell, settings: { members: MemberRow[]; keys: KeyRow[] }): Html {
  const roleOptions = (current: string) => roles.map((r) => html`<option value="${r}"${r === current ? raw(" selected") : ""}>${r}</option>`);
  return layout(shell, { title: "Settings", section: "settings" }, html`<h1>Settings</h1>
<section aria-labelledby="members-title"><h2 id="members-title">Members and invitations</h2>
<table class="wide"><thead><tr><th>Email</th><th>Role</th><th>Status</th><th>Invited</th><th>Joined</th><th>Last sign-in</th><th></th></tr></thead><tbody>
${settings.members.map((m) => html`<tr data-member-id="${m.id}"><td>${m.email}</td>
<td><form data-action="role" data-member="${m.id}" class="inline"><select name="role" aria-label="Role of ${m.email}">${roleOptions(m.role)}</select> <button type="submit">Change</button></form></td>
<td>${m.status}</td><td>${when(m.invitedAt)}</td><td>${when(m.joinedAt)}</td><td>${when(m.lastSignInAt)}</td>
<td><form data-action="remove-member" data-member="${m.id}" data-email="${m.email}"><button type="submit" class="danger">Remove</button></form></td></tr>`)}
</tbody></table>
<form data-action="invite" class="inline-form">
<label>Email <input type="email" name="email" required maxlength="320" placeholder="colleague@example.com"></label>
<label>Role <select name="role">${roleOptions("member")}</select></label>
<button type="submit">Invite</button>
</form>
<p class="muted">An invitation mails a sign-in link; the person joins when they first use it.</p>
</section>
<section aria-labelledby="keys-title"><h2 id="keys-title">API keys</h2>
<table class="wide"><thead><tr><th>Name</th><th>Prefix</th><th>Status</th><th>Created</th><th>Last used</th><th></th></tr></thead><tbody>
${settings.keys.map((k) => html`<tr data-key-id="${k.id}"><td>${k.name ?? ""}</td><td><code>${k.prefix}…</code></td><td>${k.status}</td><td>${when(k.createdAt)}</td><td>${when(k.lastUsedAt)}</td>
<td>${k.status === "active" ? html`<form data-action="revoke-key" data-key="${k.id}"><button type="submit" class="danger">Revoke</button></form>` : ""}</td></tr>`)}
</tbody></table>
<form data-action="create-key" class="inline-form">
<label>Name <input type="text" name="name" maxlength="100" placeholder="e.g. sales agent"></label>
<button type="submit">Create a key</button>
</form>
<p id="new-key" class="new-key" hidden></p>
</section>`);
}

export function notFoundPage(shell: Shell, what: string): Html {
  return layout(shell, { title: "Not found" }, html`<h1>Not found</h1>
<p>${what} does not exist in this workspace.</p>
<p><a href="${shell.base}">Back to the pipeline</a></p>`);
}
