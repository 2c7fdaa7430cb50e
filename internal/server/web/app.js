// rotor dashboard. Plain JavaScript, no dependencies. Every value comes
// from rotor's API with the bearer token the person typed in; it is kept
// in sessionStorage (this tab only) and never put in a URL. Data is
// written with textContent only, so nothing from the API is ever parsed as
// HTML.
"use strict";

const TOKEN_KEY = "rotor.apiToken";
const REFRESH_MS = 15000;
let timer = null;

// The view is in the URL's fragment: "#credential=NAME" is a credential's
// page, anything else the overview. A name is not a secret; the token
// never goes in a URL.
function route() {
  const m = /^#credential=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function say(msg) { $("status").textContent = msg; }

class Unauthorized extends Error {}

async function api(path, options) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) throw new Unauthorized();
  const res = await fetch(path, Object.assign({ headers: { Authorization: "Bearer " + token, Accept: "application/json" }, cache: "no-store" }, options || {}));
  if (res.status === 401) throw new Unauthorized();
  const body = await res.json().catch(() => ({}));
  if (!res.ok && res.status !== 409) throw new Error(body.error || ("HTTP " + res.status));
  return { status: res.status, body };
}

// chart shows one of rotor's server-drawn SVG pictures in img: fetched with
// the bearer token, shown from a blob: URL (in an <img>, an SVG can run no
// script and load nothing).
async function chart(img, path, alt) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) throw new Unauthorized();
  const res = await fetch(path, { headers: { Authorization: "Bearer " + token }, cache: "no-store" });
  if (res.status === 401) throw new Unauthorized();
  if (!res.ok) throw new Error("HTTP " + res.status + " for " + path);
  const url = URL.createObjectURL(await res.blob());
  const old = img.dataset.url;
  img.alt = alt;
  img.src = url;
  img.dataset.url = url;
  if (old) URL.revokeObjectURL(old);
}

function fmtTime(s) {
  if (!s) return "-";
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString();
}

function human(seconds) {
  if (seconds === undefined || seconds === null) return "-";
  const neg = seconds < 0; let s = Math.abs(seconds);
  let out;
  if (s >= 172800) out = Math.floor(s / 86400) + "d" + Math.floor((s % 86400) / 3600) + "h";
  else if (s >= 3600) out = Math.floor(s / 3600) + "h" + Math.floor((s % 3600) / 60) + "m";
  else if (s >= 60) out = Math.floor(s / 60) + "m" + Math.floor(s % 60) + "s";
  else out = Math.floor(s) + "s";
  return neg ? "-" + out : out;
}

// health shows the server's one health verdict as it comes: the API and
// /metrics compute it with the same function, so the page never
// recomputes it.
const HEALTH_CLASS = { healthy: "ok", migrated: "ok", degraded: "warn", rotating: "warn", needs_person: "warn", unhealthy: "bad" };
function health(c) {
  const h = c.health || { state: "unknown", summary: "unknown" };
  return el("span", { class: (HEALTH_CLASS[h.state] || "warn") + " badge", "data-health": h.state }, h.summary);
}

// lastError is the error to show under the last run: the daemon's own (the
// API sends it only while no run finished since) or the run's.
function lastError(c) {
  if (c.last_error) return c.last_error;
  if (c.last_run && c.last_run.status !== "succeeded") return c.last_run.error || "";
  return "";
}

// stragglers lists the bindings still on the previous token, waiting for
// their pipeline to finish a deployment, and what the newest run
// interrupted.
function stragglers(c) {
  const lines = (c.stragglers || []).map((s) => s.binding + ": " + s.status + " since " + fmtTime(s.since) + (s.why ? " — " + s.why : ""));
  if (c.interrupted_executions) lines.push(c.interrupted_executions + " execution(s) interrupted by policy in the newest run");
  if (!lines.length) return null;
  return el("div", { class: "warn detail", "data-stragglers": String((c.stragglers || []).length) }, el("span", { class: "pre" }, lines.join("\n")));
}

// warnings are status's sentences for a person (a token an organisation's
// maximum lifetime blocks, a lost grant), under the health badge.
function warnings(c) {
  if (!c.warnings || !c.warnings.length) return null;
  return el("div", { class: "warn detail", "data-warnings": String(c.warnings.length) }, el("span", { class: "pre" }, c.warnings.join("\n")));
}

// revocations is status's line on the old tokens queued for GitHub's
// revocation API, alive after it, or whose organisation access was revoked.
function revocations(c) {
  if (!c.labels.revocations) return null;
  const r = c.revocations || {};
  const cls = (r.alive && r.alive.length) ? "bad detail" : "muted detail";
  return el("div", { class: cls, "data-revocations": String((r.queued || 0) + (r.sent || 0)) }, c.labels.revocations);
}

function renderCredentials(list) {
  const tbody = $("creds").tBodies[0];
  tbody.replaceChildren();
  for (const c of list) {
    const actions = el("td", { "data-label": "Actions" });
    if (c.can_mint) {
      actions.append(el("button", { type: "button", onclick: () => rotate(c.name) }, "Rotate now", el("span", { class: "sr-only" }, ": " + c.name)));
    } else {
      actions.append(el("span", { class: "muted" }, "rotate with ", el("code", {}, "rotor rotate " + c.name)));
    }
    const fp = c.current ? el("span", { class: "fp", title: "version " + c.current.seq }, "v" + c.current.seq + " " + c.current.fingerprint) : el("span", { class: "warn" }, "none: run rotor adopt");
    const last = c.last_run ? el("span", { class: c.last_run.status === "succeeded" ? "ok" : "bad" }, c.labels.last_run) : "-";
    tbody.append(el("tr", { "data-credential": c.name },
      el("th", { scope: "row" }, el("a", { href: "#credential=" + encodeURIComponent(c.name) }, c.name), c.application ? el("div", { class: "muted" }, c.application) : null),
      el("td", { "data-label": "Health" }, health(c), warnings(c), revocations(c)),
      el("td", { "data-label": "Source" }, c.source),
      el("td", { "data-label": "Current" }, fp),
      el("td", { "data-label": "Age" }, c.labels.age),
      el("td", { "data-label": "Expires" }, c.labels.expires),
      el("td", { "data-label": "Next due" }, c.labels.due),
      el("td", { "data-label": "Last run" }, last, lastError(c) ? el("div", { class: "bad detail" }, lastError(c)) : null),
      el("td", { "data-label": "Bindings" }, c.labels.bindings, stragglers(c)),
      actions));
  }
}

// A binding's health as a badge: waiting and rotating are warnings.
function bindingBadge(b) {
  const cls = b.health === "healthy" ? "ok" : b.health === "unhealthy" ? "bad" : "warn";
  return el("span", { class: cls + " badge", "data-health": b.health }, b.health + (b.detail ? ": " + b.detail : ""));
}

// counts is an account × region's bindings by status, statuses in order,
// as rotor status says it: "998 verified, 2 waiting".
function counts(bindings) {
  return Object.keys(bindings || {}).sort().map((st) => bindings[st] + " " + st).join(", ");
}

// renderAccounts fills the credential page's per-account table; it is
// hidden unless the newest run's bindings span accounts or regions.
function renderAccounts(d) {
  const accounts = d.accounts || [];
  $("accounts-wrap").hidden = accounts.length === 0;
  $("accounts").tBodies[0].replaceChildren(...accounts.map((a) => el("tr", { "data-account": a.account + " " + a.region },
    el("th", { scope: "row" }, a.account || "-"),
    el("td", { "data-label": "Region" }, a.region || "-"),
    el("td", { "data-label": "Bindings" }, counts(a.bindings)))));
}

// renderDetail fills the credential page from GET /v1/credentials/NAME.
function renderDetail(d) {
  $("detail-h").textContent = d.name;
  $("detail-health").replaceChildren(health(d));
  const facts = [["Source", d.source], ["Current", d.labels.current], ["Age", d.labels.age], ["Expires", d.labels.expires],
    ["Next due", d.labels.due], ["Last run", d.labels.last_run], ["Bindings", d.labels.bindings]];
  if (lastError(d)) facts.push(["Last error", lastError(d)]);
  if (d.labels.revocations) facts.push(["Revocations", d.labels.revocations]);
  $("detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  $("detail-actions").replaceChildren(d.can_mint
    ? el("button", { type: "button", onclick: () => rotate(d.name) }, "Rotate now")
    : el("span", { class: "muted" }, "rotate with ", el("code", {}, "rotor rotate " + d.name)));

  renderAccounts(d);

  const tb = $("bindings").tBodies[0];
  tb.replaceChildren();
  if (!d.binding_details.length) tb.append(el("tr", {}, el("td", { colspan: "7" }, "No bindings yet: the first run discovers them.")));
  for (const b of d.binding_details) {
    const ex = b.last_execution ? "run #" + b.last_execution.run_id + ", " + fmtTime(b.last_execution.at) + ": " + b.last_execution.what : b.execution_note;
    tb.append(el("tr", { "data-binding": b.id },
      el("th", { scope: "row", class: "detail" }, b.id, b.resource && b.resource !== b.id ? el("div", { class: "muted" }, b.resource) : null),
      el("td", { "data-label": "Health" }, bindingBadge(b)),
      el("td", { "data-label": "State in newest run" }, b.status || "-"),
      el("td", { "data-label": "Holds" }, b.holds_seq ? "v" + b.holds_seq : "unknown"),
      el("td", { "data-label": "Last switched" }, fmtTime(b.switched_at)),
      el("td", { "data-label": "Last verified" }, fmtTime(b.verified_at)),
      el("td", { "data-label": "Pipeline's last execution", class: "detail" }, ex)));
  }

  const rb = $("runs").tBodies[0];
  rb.replaceChildren();
  if (!d.recent_runs.length) rb.append(el("tr", {}, el("td", { colspan: "7" }, "No runs yet.")));
  for (const r of d.recent_runs) {
    const steps = (r.steps || []).map((a) => el("li", {}, fmtTime(a.time) + " " + a.event + (a.detail ? " " + a.detail : "")));
    const bs = (r.bindings || []).map((b) => el("li", {}, b.binding.id + ": " + b.status + (b.error ? " (" + b.error + ")" : "")));
    rb.append(el("tr", { "data-run": String(r.id) },
      el("th", { scope: "row" }, "#" + r.id),
      el("td", { "data-label": "Status", class: r.status === "succeeded" ? "ok" : r.status === "running" ? "warn" : "bad" }, r.status + " (" + r.trigger + ")"),
      el("td", { "data-label": "Versions" }, (r.prev_seq ? "v" + r.prev_seq : "-") + " → " + (r.new_seq ? "v" + r.new_seq : "-")),
      el("td", { "data-label": "Started" }, fmtTime(r.started_at), r.duration_seconds ? el("div", { class: "muted" }, "took " + human(r.duration_seconds)) : null),
      el("td", { "data-label": "Steps", class: "detail" }, steps.length ? el("details", {}, el("summary", {}, steps.length + " steps, last: " + r.step), el("ol", {}, ...steps)) : r.step),
      el("td", { "data-label": "Bindings", class: "detail" }, bs.length ? el("details", {}, el("summary", {}, bs.length + " binding(s)"), el("ul", {}, ...bs)) : "-"),
      el("td", { "data-label": "Reason", class: "detail" }, [r.reason, r.error].filter(Boolean).join(": ") || "-")));
  }
}

function renderAudit(records) {
  const tbody = $("audit").tBodies[0];
  tbody.replaceChildren();
  for (const a of records.slice().reverse()) {
    tbody.append(el("tr", {},
      el("th", { scope: "row" }, a.seq),
      el("td", {}, fmtTime(a.time)),
      el("td", {}, a.credential || "-"),
      el("td", {}, a.run_id ? "#" + a.run_id : "-"),
      el("td", {}, a.event),
      el("td", {}, a.actor || "-"),
      el("td", { class: "detail" }, a.detail || "")));
  }
}

async function rotate(name) {
  say("Requesting a rotation of " + name + "…");
  try {
    const { status, body } = await api("/v1/credentials/" + encodeURIComponent(name) + "/rotate", { method: "POST", headers: { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY), "Content-Type": "application/json" }, body: JSON.stringify({ reason: "dashboard" }) });
    if (status === 409) say(name + ": " + body.error + (body.instructions ? " " + body.instructions : ""));
    else say(name + ": rotation " + body.status + (body.run_id ? " (run " + body.run_id + ")" : "") + ".");
    refresh();
  } catch (e) { handle(e); }
}

function handle(e) {
  if (e instanceof Unauthorized) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignin("The API refused the token (or none was given). Sign in with the token from server.auth_token_file.");
    return;
  }
  say("Could not reach rotor's API: " + e.message + ". Retrying.");
}

async function refresh() {
  const name = route();
  $("overview").hidden = name !== null;
  $("detail").hidden = name === null;
  document.body.dataset.view = name === null ? "overview" : "credential";
  try {
    if (name === null) {
      const [creds, audit] = await Promise.all([api("/v1/credentials"), api("/v1/audit?limit=50"),
        chart($("chart-bindings"), "/v1/charts/bindings.svg", "Bindings of every credential by health: healthy, waiting, rotating, unhealthy.")]);
      renderCredentials(creds.body.credentials);
      renderAudit(audit.body.records);
    } else {
      const base = "/v1/credentials/" + encodeURIComponent(name);
      const [detail] = await Promise.all([api(base),
        chart($("chart-timeline"), base + "/timeline.svg", "Timeline of the versions of " + name + ": created, current, grace window, retired, expiry."),
        chart($("chart-activity"), base + "/activity.svg", "Runs of " + name + " over time, by outcome."),
        chart($("chart-target"), base + "/bindings.svg", "Bindings of " + name + " by target and health.")]);
      renderDetail(detail.body);
    }
    $("updated").textContent = "Updated " + new Date().toLocaleTimeString() + "; refreshes every " + REFRESH_MS / 1000 + " s.";
    document.body.dataset.loaded = "true";
  } catch (e) { handle(e); }
}

function showSignin(msg) {
  clearInterval(timer);
  $("app").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  if (msg) say(msg);
  $("token").focus();
}

function start() {
  $("signin").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  refresh();
  clearInterval(timer);
  timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    $("token").value = "";
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    say("");
    start();
  });
  $("signout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignin("Signed out.");
  });
  window.addEventListener("hashchange", () => {
    if (!sessionStorage.getItem(TOKEN_KEY)) return;
    document.body.dataset.loaded = "false";
    refresh().then(() => { const h = route() === null ? $("creds-h") : $("detail-h"); h.focus(); });
  });
  if (sessionStorage.getItem(TOKEN_KEY)) start(); else showSignin("");
});
