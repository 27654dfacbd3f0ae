// faultmgr dashboard: plain DOM, no framework, no build step. The token lives in sessionStorage and goes
// out only as an Authorization header; the live feed is read with fetch() for the same reason.
"use strict";

const KEY = "faultmgr.token";
const MAX_TIMELINE = 200;
const $ = (sel) => document.querySelector(sel);
let streamAbort = null;
let refreshTimer = null;

function token() { return sessionStorage.getItem(KEY); }

async function api(path, options = {}) {
  const headers = { "Authorization": "Bearer " + token(), ...(options.headers || {}) };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { ...options, headers, body: options.body === undefined ? undefined
                                                         : JSON.stringify(options.body) });
  if (resp.status === 401) { showLogin("The token was refused."); throw new Error("unauthorized"); }
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error || resp.statusText);
  return data;
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell === null ? "" : String(cell);
    tr.appendChild(td);
  }
  return tr;
}

function fill(tableSel, rows, emptyText) {
  const body = $(tableSel + " tbody");
  if (!rows.length && emptyText) {
    const td = el("td", emptyText, "muted");
    td.colSpan = $(tableSel + " thead tr").children.length;
    const tr = document.createElement("tr");
    tr.appendChild(td);
    rows = [tr];
  }
  body.replaceChildren(...rows);
}

function ago(epoch) {
  const s = Math.max(0, Date.now() / 1000 - epoch);
  if (s < 60) return Math.round(s) + "s ago";
  if (s < 3600) return Math.round(s / 60) + "m ago";
  if (s < 86400) return (s / 3600).toFixed(1) + "h ago";
  return (s / 86400).toFixed(1) + "d ago";
}

function clock(epoch) { return new Date(epoch * 1000).toLocaleString(); }

// -- alerts ---------------------------------------------------------------------------------------------
async function loadAlerts() {
  const data = await api("/api/v1/alerts");
  const rows = data.alerts.map((a) => {
    const actions = document.createElement("span");
    const ack = el("button", a.acknowledged_by ? "unack" : "ack");
    ack.dataset.action = a.acknowledged_by ? "unack" : "ack";
    ack.dataset.alert = a.id;
    ack.addEventListener("click", () => a.acknowledged_by ? unack(a.id) : openAck(a.id));
    const silence = el("button", "silence");
    silence.dataset.action = "silence";
    silence.dataset.alert = a.id;
    silence.addEventListener("click", () => openSilence(a));
    actions.append(ack, " ", silence);
    const tr = row([a.id, el("span", a.severity, "sev sev-" + a.severity), a.state + (a.muted ? " (" + a.muted + ")" : ""),
                    a.rule, a.subject, ago(a.starts_at), a.acknowledged_by || "", actions]);
    tr.dataset.alert = a.id;
    tr.title = (a.annotations && a.annotations.summary) || "";
    return tr;
  });
  fill("#alerts", rows);
  $("#alert-count").textContent = data.alerts.length;
  $("#no-alerts").hidden = data.alerts.length > 0;
}

function openAck(id) {
  $("#ack-id").textContent = "#" + id;
  $("#ack-comment").value = "";
  $("#ack-dialog").dataset.alert = id;
  $("#ack-dialog").showModal();
}

async function unack(id) {
  await api(`/api/v1/alerts/${id}/unack`, { method: "POST", body: {} });
  await loadAlerts();
}

function openSilence(alert) {
  $("#silence-matchers").value = `rule=${alert.rule}, subject=${alert.subject}`;
  $("#silence-comment").value = "";
  $("#silence-error").textContent = "";
  $("#silence-dialog").showModal();
}

// -- cluster --------------------------------------------------------------------------------------------
function stateClass(state) {
  return state === "up" || state === "self" ? "good" : state === "warn" ? "warn" : "bad";
}

function ago(ms) {
  return ms === null || ms === undefined ? "never" : (ms / 1000).toFixed(1) + "s ago";
}

// Who holds a VIP: this node (its own action), or a peer by its latest beat (with how old that news is).
// Two claims are a split brain and are shown as such.
function holderCell(v) {
  if (!v.claims.length) {
    return el("span", v.held === false ? "no head claims it" : "unknown", "pill off");
  }
  const cell = el("span");
  v.claims.forEach((c, i) => {
    if (i) cell.append(" ");
    const text = c.source === "here" ? c.node + " (this node)" : c.node + " (per its beat " + ago(c.age_ms) + ")";
    cell.append(el("span", text, "pill holder " + (v.claims.length > 1 ? "bad" : "good")));
  });
  if (v.claims.length > 1) cell.append(" ", el("span", "split brain", "pill bad"));
  return cell;
}

async function loadNodes() {
  const data = await api("/api/v1/nodes");
  $("#node").textContent = data.node;
  fill("#heads", data.heads.map((h) => row([
    h.self ? el("span", h.node + " (this node)") : h.node,
    el("span", h.state || "unknown", "pill " + stateClass(h.state)),
    h.role === null || h.role === undefined ? "" : String(h.role),
    h.vips.join(", "),
    h.self ? "" : ago(h.last_seen_ms_ago)])), "");
  fill("#vips", data.vips.map((v) => row([v.vip, v.interface, holderCell(v), v.action])),
    "No VIP actions configured.");
  const peerRows = [];
  for (const p of data.peers) {
    const paths = p.paths.length ? p.paths : [{ name: "-", alive: null, last_seen_ms_ago: null }];
    for (const path of paths) {
      const who = el("span", p.peer);
      who.append(" ", el("span", "via " + p.detector, "muted"));
      peerRows.push(row([who, el("span", p.state, "pill " + (p.state === "up" ? "good" : p.state === "warn" ? "warn" : "bad")),
        path.name + (path.alive === false ? " (down)" : ""),
        ago(path.last_seen_ms_ago)]));
    }
  }
  fill("#peers", peerRows, "No heartbeat detectors configured.");
}

async function loadPools() {
  const data = await api("/api/v1/pools");
  const rows = [];
  for (const pool of data.pools) {
    for (const s of pool.servers) {
      const health = s.serving === null ? el("span", pool.live_error ? "unknown" : "-", "pill off")
        : el("span", s.serving ? "serving" : (s.state || "out"), "pill " + (s.serving ? "good" : "bad"));
      if (pool.live_error) health.title = pool.live_error;
      const role = s.role === "real" ? "" : ` (${s.role === "undeclared" ? "not in rule file" : s.role})`;
      rows.push(row([pool.name, s.name + role, health,
                     s.weight === null ? "" : s.weight, s.declared_weight]));
    }
  }
  fill("#pools", rows, "No pools declared.");
}

async function loadSilences() {
  const data = await api("/api/v1/silences");
  fill("#silences", data.silences.map((s) => {
    const expire = el("button", "expire");
    expire.dataset.action = "expire";
    expire.addEventListener("click", async () => {
      await api(`/api/v1/silences/${s.id}`, { method: "DELETE" });
      await Promise.all([loadSilences(), loadAlerts()]);
    });
    return row([s.id, s.matchers.join(", "), clock(s.ends_at), s.author, expire]);
  }), "No silences.");
}

// -- live feed ------------------------------------------------------------------------------------------
function addTimeline(kind, data) {
  let text;
  if (kind === "event") text = `${data.severity.padEnd(8)} ${data.kind} ${data.subject} ${data.message || ""}`;
  else if (kind === "alert") text = `alert #${data.id} ${data.change}: ${data.rule} on ${data.subject}`;
  else if (kind === "notification") text = `notify ${data.receiver} ${data.outcome}: ${data.title}`;
  else return;
  const item = el("li");
  const when = el("span", new Date().toLocaleTimeString() + " ", "muted");
  const sev = kind === "event" ? data.severity : kind === "alert" ? (data.change === "resolved" ? "ok" : data.severity) : "info";
  item.append(when, el("span", kind, "sev sev-" + sev), " ", text);
  item.dataset.kind = kind;
  const list = $("#timeline");
  list.prepend(item);
  while (list.children.length > MAX_TIMELINE) list.lastChild.remove();
}

async function stream() {
  if (streamAbort) streamAbort.abort();
  streamAbort = new AbortController();
  try {
    const resp = await fetch("/api/v1/stream", { headers: { "Authorization": "Bearer " + token() },
                                                 signal: streamAbort.signal });
    if (!resp.ok) throw new Error("stream " + resp.status);
    setLive(true);
    loadAlerts().catch(() => {});  // catch up on what changed while the feed was not connected
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        handleFrame(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
  } catch (err) {
    if (err.name === "AbortError") return;
  }
  setLive(false);
  setTimeout(stream, 3000);
}

function handleFrame(frame) {
  let kind = "message", data = "";
  for (const line of frame.split("\n")) {
    if (line.startsWith("event: ")) kind = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (!data) return;
  const parsed = JSON.parse(data);
  addTimeline(kind, parsed);
  if (kind === "alert") scheduleAlerts();
}

// An alert storm sends many frames: reload the table at most once a second, not once per frame.
let alertsTimer = null;
function scheduleAlerts() {
  if (alertsTimer !== null) return;
  alertsTimer = setTimeout(() => { alertsTimer = null; loadAlerts().catch(() => {}); }, 1000);
}

function setLive(on) {
  const pill = $("#live");
  pill.textContent = on ? "live" : "offline";
  pill.className = "pill " + (on ? "on" : "off");
}

// -- life -----------------------------------------------------------------------------------------------
function showLogin(message) {
  if (streamAbort) streamAbort.abort();
  clearInterval(refreshTimer);
  sessionStorage.removeItem(KEY);
  $("#board").hidden = true;
  $("#logout").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
  $("#token").focus();
}

async function open() {
  try {
    const me = await api("/api/v1/whoami");
    $("#whoami").textContent = `${me.name} (${me.scope})`;
  } catch (err) {
    return;
  }
  $("#login").hidden = true;
  $("#board").hidden = false;
  $("#logout").hidden = false;
  const refresh = () => Promise.all([loadAlerts(), loadNodes(), loadPools(), loadSilences()]).catch(() => {});
  await refresh();
  clearInterval(refreshTimer);
  refreshTimer = setInterval(refresh, 10000);  // nodes and pools have no feed; alerts come live as well
  stream();
}

function wire() {
  $("#login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("#token").value.trim());
    $("#token").value = "";
    open();
  });
  $("#logout").addEventListener("click", () => showLogin(""));
  $("#ack-cancel").addEventListener("click", () => $("#ack-dialog").close());
  $("#ack-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const id = $("#ack-dialog").dataset.alert;
    await api(`/api/v1/alerts/${id}/ack`, { method: "POST", body: { comment: $("#ack-comment").value } });
    $("#ack-dialog").close();
    await loadAlerts();
  });
  $("#silence-cancel").addEventListener("click", () => $("#silence-dialog").close());
  $("#silence-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const matchers = $("#silence-matchers").value.split(",").map((m) => m.trim()).filter(Boolean);
    try {
      await api("/api/v1/silences", { method: "POST", body: { matchers, duration: $("#silence-duration").value,
                                                              comment: $("#silence-comment").value } });
    } catch (err) {
      $("#silence-error").textContent = err.message;
      return;
    }
    $("#silence-dialog").close();
    await Promise.all([loadSilences(), loadAlerts()]);
  });
  if (token()) open(); else showLogin("");
}

document.addEventListener("DOMContentLoaded", wire);
