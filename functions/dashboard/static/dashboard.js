// The dashboard's one script (served from /app/assets/, allowed by script-src 'self').
// Writes: forms marked data-action are sent to the JSON API (the same routes agents use) with
// the session cookie and the page's CSRF token (x-csrf-token); a refusal shows the API's
// message and hint (a viewer's write is refused by the database: read_only_role).
// Charts: canvases marked data-chart are drawn with Chart.js from the page's
// <script type="application/json" id="chart-data"> block.
"use strict";
(() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute("content") ?? "";
  const api = new URL(meta("api-base"), location.href);
  const csrfToken = meta("csrf-token");
  const flash = document.getElementById("flash");

  function show(kind, message, hint) {
    if (!flash) return;
    flash.hidden = false;
    flash.className = `flash flash-${kind}`;
    flash.replaceChildren();
    const strong = document.createElement("strong");
    strong.textContent = message;
    flash.append(strong);
    if (hint) {
      const p = document.createElement("span");
      p.className = "hint";
      p.textContent = ` ${hint}`;
      flash.append(p);
    }
  }

  async function call(method, path, body) {
    const res = await fetch(new URL(path, api), {
      method,
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrfToken },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const reply = await res.json().catch(() => ({}));
    if (!res.ok || reply.success === false) {
      const error = reply.error ?? {};
      const failure = new Error(error.message ?? `The request failed (HTTP ${res.status})`);
      failure.hint = error.hint;
      throw failure;
    }
    return reply;
  }

  const enc = encodeURIComponent;
  const actions = {
    move: (form, data) => call("PATCH", `leads/${enc(form.dataset.lead)}`, { stage: data.stage }),
    note: (form, data) => call("POST", "notes", { leadId: form.dataset.lead, content: data.content, pinned: data.pinned === "true" }),
    pin: (form) => call("PUT", "notes", { id: form.dataset.note, pinned: form.dataset.pinned === "true" }),
    invite: (_form, data) => call("POST", "members", { email: data.email, role: data.role }),
    role: (form, data) => call("PATCH", `members/${enc(form.dataset.member)}`, { role: data.role }),
    "remove-member": (form) => confirm(`Remove ${form.dataset.email}? Their sessions end at once.`) ? call("DELETE", `members/${enc(form.dataset.member)}`) : null,
    "create-key": async (_form, data) => {
      const reply = await call("POST", "keys", data.name ? { name: data.name } : {});
      const out = document.getElementById("new-key");
      out.hidden = false;
      out.replaceChildren("New key (shown once, copy it now): ");
      const code = document.createElement("code");
      code.textContent = reply.apiKey;
      out.append(code);
      return { stay: true };
    },
    "revoke-key": (form) => confirm("Revoke this key? Agents using it are refused at once.") ? call("DELETE", `keys/${enc(form.dataset.key)}`) : null,
    "sign-out": async () => {
      await call("POST", "auth/sign-out");
      location.assign(new URL(meta("sign-in"), location.href));
      return { stay: true };
    },
  };

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    const action = form instanceof HTMLFormElement ? actions[form.dataset.action ?? ""] : undefined;
    if (!action) return;
    event.preventDefault();
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const done = await action(form, Object.fromEntries(new FormData(form)));
      if (done === null) return;
      if (!done?.stay) location.reload();
    } catch (error) {
      show("error", error.message, error.hint);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });

  // Charts, when the page has any (the analytics page loads Chart.js).
  const data = document.getElementById("chart-data");
  if (data && window.Chart) {
    const charts = JSON.parse(data.textContent);
    const colors = ["#1d4ed8", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#64748b"];
    const base = { animation: false, responsive: true, maintainAspectRatio: false };
    const specs = {
      funnel: { type: "bar", data: { labels: charts.funnel.labels, datasets: [{ label: "Leads", data: charts.funnel.values, backgroundColor: colors[0] }] },
        options: { ...base, indexAxis: "y", plugins: { legend: { display: false } } } },
      conversion: { type: "bar", data: { labels: charts.conversion.labels, datasets: [
        { label: "Moved on %", data: charts.conversion.movedOn, backgroundColor: colors[0] },
        { label: "Won %", data: charts.conversion.won, backgroundColor: colors[1] },
      ] }, options: { ...base, scales: { y: { min: 0, max: 100 } } } },
      scores: { type: "doughnut", data: { labels: charts.scores.labels, datasets: [{ data: charts.scores.values, backgroundColor: ["#dc2626", "#f59e0b", "#0891b2", "#64748b", "#cbd5e1"] }] },
        options: base },
      activity: { type: "line", data: { labels: charts.activity.labels, datasets: [
        { label: "Events", data: charts.activity.events, borderColor: colors[0], backgroundColor: colors[0] },
        { label: "Touchpoints", data: charts.activity.touchpoints, borderColor: colors[1], backgroundColor: colors[1] },
        { label: "Stage moves", data: charts.activity.stageMoves, borderColor: colors[4], backgroundColor: colors[4] },
      ] }, options: { ...base, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } },
    };
    for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
      const spec = specs[canvas.dataset.chart];
      if (spec) canvas.chart = new window.Chart(canvas, spec);
    }
    document.documentElement.dataset.chartsDrawn = "true";
  }
})();
