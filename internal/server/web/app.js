// rotor dashboard. Plain JavaScript, no dependencies. Every value comes
// from rotor's API with the bearer token the person typed in; it is kept
// in sessionStorage (this tab only) and never put in a URL. Data is
// written with textContent only, so nothing from the API is ever parsed as
// HTML.
"use strict";

const TOKEN_KEY = "rotor.apiToken";
const REFRESH_MS = 15000;
let selected = null; // credential whose run history is shown
let timer = null;

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

function health(c) {
  if (c.in_flight) return el("span", { class: "warn badge" }, "rotating");
  if (c.waiting_for) return el("span", { class: "warn badge" }, "needs a person: " + c.waiting_for);
  if (!c.healthy) {
    const why = [];
    if (c.watch && c.watch.token && c.watch.token.state === "broken") why.push("token refused by GitHub");
    if (c.watch && c.watch.bindings) for (const b of c.watch.bindings) if (b.state !== "ok" && b.state !== "unknown") why.push(b.id + " " + b.state);
    if (c.bindings && c.bindings_verified !== c.bindings) why.push(c.bindings_verified + "/" + c.bindings + " verified");
    return el("span", { class: "bad badge" }, "unhealthy" + (why.length ? ": " + why.join("; ") : ""));
  }
  if (c.failures_since_success > 0) return el("span", { class: "warn badge" }, c.failures_since_success + " failed run(s)");
  return el("span", { class: "ok badge" }, "healthy");
}

function renderCredentials(list) {
  const tbody = $("creds").tBodies[0];
  tbody.replaceChildren();
  for (const c of list) {
    const actions = el("td", {});
    actions.append(el("button", { type: "button", "aria-controls": "history", "aria-expanded": String(selected === c.name), onclick: () => showHistory(c.name) }, "History", el("span", { class: "sr-only" }, " of " + c.name)));
    if (c.can_mint) {
      actions.append(" ", el("button", { type: "button", onclick: () => rotate(c.name) }, "Rotate now", el("span", { class: "sr-only" }, ": " + c.name)));
    } else {
      actions.append(" ", el("span", { class: "muted" }, "rotate with ", el("code", {}, "rotor rotate " + c.name)));
    }
    const fp = c.current ? el("span", { class: "fp", title: "version " + c.current.seq }, "v" + c.current.seq + " " + c.current.fingerprint) : el("span", { class: "warn" }, "none: run rotor adopt");
    const last = c.last_run ? el("span", { class: c.last_run.status === "succeeded" ? "ok" : "bad" }, c.labels.last_run) : "-";
    tbody.append(el("tr", { "data-credential": c.name },
      el("th", { scope: "row" }, c.name, c.application ? el("div", { class: "muted" }, c.application) : null),
      el("td", {}, c.source),
      el("td", {}, fp),
      el("td", {}, c.labels.age),
      el("td", {}, c.labels.expires),
      el("td", {}, c.labels.due),
      el("td", {}, last, c.last_error ? el("div", { class: "bad detail" }, c.last_error) : null),
      el("td", {}, c.labels.bindings),
      el("td", {}, health(c)),
      actions));
  }
}

async function showHistory(name) {
  selected = name;
  $("history").hidden = false;
  await refreshHistory();
  $("history-h").focus();
  for (const b of document.querySelectorAll("#creds button[aria-controls=history]")) {
    b.setAttribute("aria-expanded", String(b.closest("tr").dataset.credential === name));
  }
}

async function refreshHistory() {
  if (!selected) return;
  const { body } = await api("/v1/credentials/" + encodeURIComponent(selected) + "/runs?limit=20");
  $("history-h").textContent = "Run history: " + selected;
  $("runs-caption").textContent = "The newest runs of " + selected + ", newest first.";
  const tbody = $("runs").tBodies[0];
  tbody.replaceChildren();
  if (!body.runs.length) tbody.append(el("tr", {}, el("td", { colspan: "9" }, "No runs yet.")));
  for (const r of body.runs) {
    const bs = (r.bindings || []).map((b) => b.binding.id + ": " + b.status + (b.error ? " (" + b.error + ")" : "")).join("\n");
    tbody.append(el("tr", {},
      el("th", { scope: "row" }, "#" + r.id),
      el("td", {}, r.trigger),
      el("td", { class: r.status === "succeeded" ? "ok" : r.status === "running" ? "warn" : "bad" }, r.status),
      el("td", {}, r.step),
      el("td", {}, (r.prev_seq ? "v" + r.prev_seq : "-") + " → " + (r.new_seq ? "v" + r.new_seq : "-")),
      el("td", {}, fmtTime(r.started_at)),
      el("td", {}, r.duration_seconds ? human(r.duration_seconds) : "-"),
      el("td", { class: "detail" }, el("span", { class: "pre" }, bs || "-")),
      el("td", { class: "detail" }, [r.reason, r.error].filter(Boolean).join(": ") || "-")));
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
  try {
    const [creds, audit] = await Promise.all([api("/v1/credentials"), api("/v1/audit?limit=50")]);
    renderCredentials(creds.body.credentials);
    renderAudit(audit.body.records);
    await refreshHistory();
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
  if (sessionStorage.getItem(TOKEN_KEY)) start(); else showSignin("");
});
