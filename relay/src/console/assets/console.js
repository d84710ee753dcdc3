// The rollcall operator console. Reads the relay's /console/api/* with the API key in
// an Authorization header (kept in sessionStorage for this tab), never in a URL. Every
// name, id, channel and meta value is shown with textContent: they come from browsers
// and sites.

import { hbars, lineChart, stackedBars, timeline } from "./charts.js";

const KEY = "rollcall.console.key";
const MAX_ROWS = 500;
const REFRESH_MS = 3_000;

const $ = (id) => document.getElementById(id);
let key = sessionStorage.getItem(KEY);
let tab = "now";
let selected = null;
let refreshTimer = null;

class Unauthorized extends Error {}

// The relay has no API key at all: no key typed here can work.
const NO_KEY = "The relay has no API key: set ROLLCALL_API_KEY (or [auth] api_key) and restart it, or run it with --demo.";
const keyless = (err) => err.message.includes("set ROLLCALL_API_KEY on the relay");

function headers(extra = {}) {
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function api(path, options = {}) {
  const res = await fetch(`api/${path}`, { ...options, headers: headers(options.headers), cache: "no-store" });
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) throw new Unauthorized(body.message ?? "the API key was refused");
  if (!res.ok) throw new Error(body.message || `the relay answered ${res.status}`);
  return body;
}

/** An element with text children (never HTML). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}

const ago = (ms) => {
  if (ms == null) return "never";
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 60) return `${Math.max(0, s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(ms).toISOString().replace("T", " ").slice(0, 16);
};
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
const hours = (ms) => {
  const h = ms / 3_600_000;
  if (h >= 10) return `${Math.round(h)} h`;
  if (h >= 1) return `${h.toFixed(1)} h`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 1000)} s`;
};

// ---- sign in and out ---------------------------------------------------------------

function showLogin(message = "") {
  stopAll();
  $("login").hidden = false;
  $("tabs").hidden = true;
  $("logout").hidden = true;
  for (const s of document.querySelectorAll(".tab")) s.hidden = true;
  $("login-error").textContent = message;
  $("key").focus();
}

function showApp(demo) {
  $("login").hidden = true;
  $("tabs").hidden = false;
  $("logout").hidden = demo;
  show(tab);
  startLive();
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  key = $("key").value;
  $("key").value = "";
  try {
    const r = await api("login", { method: "POST" });
    sessionStorage.setItem(KEY, key);
    showApp(r.demo);
  } catch (err) {
    key = null;
    sessionStorage.removeItem(KEY);
    showLogin(!(err instanceof Unauthorized) ? err.message : keyless(err) ? NO_KEY : "Wrong key.");
  }
});

$("logout").addEventListener("click", () => {
  key = null;
  sessionStorage.removeItem(KEY);
  showLogin();
});

function failed(err) {
  if (err instanceof Unauthorized) {
    const had = key;
    key = null;
    sessionStorage.removeItem(KEY);
    showLogin(had ? "The key was refused." : "");
    return true;
  }
  return false;
}

// ---- tabs --------------------------------------------------------------------------

for (const b of document.querySelectorAll("#tabs button")) {
  b.addEventListener("click", () => show(b.dataset.tab));
}

function show(name) {
  tab = name;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("on", b.dataset.tab === name);
  for (const s of document.querySelectorAll(".tab")) s.hidden = s.id !== name;
  clearTimeout(refreshTimer);
  refresh();
}

async function refresh() {
  clearTimeout(refreshTimer);
  try {
    if (tab === "now") await loadNow();
    else if (tab === "webhooks") await loadWebhooks();
    else if (tab === "ledger") await loadLedger();
  } catch (err) {
    if (failed(err)) return;
    console.warn(err);
  }
  // Now and Webhooks follow along; the ledger's charts are drawn once per visit.
  if (tab === "now" || tab === "webhooks") refreshTimer = setTimeout(refresh, REFRESH_MS);
}

function stopAll() {
  clearTimeout(refreshTimer);
  stopLive();
}

// ---- now ---------------------------------------------------------------------------

function card(value, label) {
  return el("div", { class: "card" }, el("b", {}, value), el("span", {}, label));
}

async function loadNow() {
  const q = $("channel-search").value.trim();
  const now = await api(`now${q ? `?q=${encodeURIComponent(q)}` : ""}`);
  const cards = [
    card(now.relay.connections, "connections here"),
    card(now.users, "users online"),
    card(now.channels_total, "channels"),
    card(now.members, "memberships"),
    card(now.relay.store + (now.relay.store_up ? "" : " (down)"), "store"),
  ];
  if (now.total) cards.splice(1, 0, card(now.total.connections, "connections, all relays"));
  $("summary").replaceChildren(...cards);
  $("relays-box").hidden = !now.relays && !now.relays_error;
  if (now.relays) {
    $("relays").tBodies[0].replaceChildren(
      ...now.relays.map((r) =>
        el("tr", {},
          el("td", {}, r.id.slice(0, 12) + (r.this ? " (this relay)" : "")),
          el("td", { class: r.alive ? "ok" : "bad" }, r.alive ? "alive" : "gone"),
          el("td", { class: "num" }, r.connections),
          el("td", { class: "num" }, r.clients ?? ""),
          el("td", {}, ago(r.beat_ms)))),
    );
  }
  $("channels-note").textContent =
    now.channels_matching > now.channels.length
      ? `The ${now.channels.length} busiest of ${now.channels_matching} channels.`
      : `${now.channels_matching} of ${now.channels_total} channels.`;
  $("channels").tBodies[0].replaceChildren(
    ...now.channels.map((c) => {
      const row = el("tr", { class: `pick${c.name === selected ? " sel" : ""}`, dataset: { channel: c.name } },
        el("td", {}, c.name), el("td", { class: "num" }, c.members));
      row.addEventListener("click", () => {
        selected = c.name;
        refresh();
      });
      return row;
    }),
  );
  if (selected) await loadChannel(selected);
}

async function loadChannel(name) {
  const ch = await api(`channel?name=${encodeURIComponent(name)}`);
  $("channel-box").hidden = false;
  $("channel-title").textContent = name;
  $("channel-note").textContent = `${ch.count} member${ch.count === 1 ? "" : "s"}, ${ch.watchers} watching here` + (ch.truncated ? " (the first shown)" : "");
  $("members").tBodies[0].replaceChildren(
    ...ch.members.map((m) =>
      el("tr", { dataset: { user: m.id } },
        el("td", {}, m.id),
        el("td", {}, m.name ?? ""),
        el("td", { class: `status-${m.status}` }, m.status),
        el("td", { class: "meta" }, Object.keys(m.meta ?? {}).length ? JSON.stringify(m.meta) : ""),
        el("td", { class: "num" }, m.clients_here))),
  );
}

$("channel-search").addEventListener("input", () => refresh());

// ---- live events -------------------------------------------------------------------

let live = null;
let paused = false;
let held = [];
let seen = 0;
let dropped = 0;

function startLive() {
  if (live) return;
  const abort = new AbortController();
  live = abort;
  (async () => {
    while (live === abort) {
      try {
        const res = await fetch("api/events", { headers: headers(), signal: abort.signal, cache: "no-store" });
        if (res.status === 401) throw new Unauthorized();
        if (!res.ok) throw new Error((await res.json().catch(() => ({}))).message || `answered ${res.status}`);
        status("connected");
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            message(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
        status("disconnected, reconnecting");
      } catch (err) {
        if (live !== abort) return;
        if (failed(err)) return;
        status(`disconnected (${err.message}), reconnecting`);
      }
      await new Promise((r) => setTimeout(r, 2_000));
    }
  })();
}

function stopLive() {
  if (live) live.abort();
  live = null;
}

function status(text) {
  $("live-status").textContent = `${text} · ${seen} events${dropped ? ` · ${dropped} missed (too slow)` : ""}${paused ? ` · paused, ${held.length} waiting` : ""}`;
  $("live-status").dataset.state = text;
}

function message(chunk) {
  let type = "message";
  let data = "";
  for (const line of chunk.split("\n")) {
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  if (!data) return;
  const body = JSON.parse(data);
  if (type === "lagged") {
    dropped += body.dropped;
    status("connected");
    return;
  }
  if (type !== "message") return;
  seen++;
  if (paused) {
    held.push(body);
    if (held.length > MAX_ROWS) held.shift();
  } else {
    add(body);
  }
  status("connected");
}

function matches(ev) {
  const ch = $("filter-channel").value.trim();
  const user = $("filter-user").value.trim().toLowerCase();
  if (ch && !(ev.channel ?? "").includes(ch)) return false;
  if (user && !(ev.user && (ev.user.id.toLowerCase().includes(user) || (ev.user.name ?? "").toLowerCase().includes(user)))) return false;
  return true;
}

function add(ev) {
  const kind = ev.type.split(".")[1];
  const detail = ev.cause ?? ev.status ?? ev.relay ?? "";
  const row = el("tr", { class: `ev-${kind}`, dataset: { type: ev.type, cause: ev.cause ?? "", user: ev.user?.id ?? "" } },
    el("td", {}, clock(ev.at_ms)),
    el("td", {}, ev.type),
    el("td", {}, ev.channel ?? ""),
    el("td", {}, ev.user ? (ev.user.name ? `${ev.user.name} (${ev.user.id})` : ev.user.id) : ""),
    el("td", {}, detail));
  row.hidden = !matches(ev);
  row.event = ev;
  const body = $("events").tBodies[0];
  body.prepend(row);
  while (body.rows.length > MAX_ROWS) body.lastElementChild.remove();
}

$("pause").addEventListener("click", () => {
  paused = !paused;
  $("pause").textContent = paused ? "Resume" : "Pause";
  if (!paused) {
    for (const ev of held) add(ev);
    held = [];
  }
  status("connected");
});

$("clear").addEventListener("click", () => {
  $("events").tBodies[0].replaceChildren();
  held = [];
});

for (const id of ["filter-channel", "filter-user"]) {
  $(id).addEventListener("input", () => {
    for (const row of $("events").tBodies[0].rows) row.hidden = !matches(row.event);
  });
}

// ---- webhooks ----------------------------------------------------------------------

async function loadWebhooks() {
  const w = await api("webhooks");
  $("webhooks-note").textContent = !w.endpoints.length
    ? "No webhook endpoint is configured ([[webhooks.endpoint]])."
    : w.recording
      ? "Events wait in each endpoint's queue, in order, until it accepts them."
      : "Another relay records the ledger and sends the webhooks: its console shows their queues.";
  $("endpoints").tBodies[0].replaceChildren(
    ...w.endpoints.map((e) => {
      const result = el("div", { class: "note test-result" });
      const button = el("button", { type: "button" }, "Send a test event");
      button.disabled = e.pusher;
      button.addEventListener("click", async () => {
        button.disabled = true;
        result.textContent = "sending…";
        try {
          const r = await api(`webhooks/${e.index}/test`, { method: "POST" });
          result.className = r.ok ? "ok test-result" : "answer test-result";
          result.textContent = r.ok ? `accepted (${r.id})` : r.answer;
        } catch (err) {
          if (failed(err)) return;
          result.textContent = err.message;
        }
        button.disabled = false;
      });
      return el("tr", { dataset: { url: e.url } },
        el("td", {}, e.url, e.pusher ? " (Pusher)" : ""),
        el("td", { class: "num" }, e.pending ?? 0),
        el("td", { class: "num" }, e.failures_in_a_row ?? 0),
        el("td", {}, e.retry_at_ms ? clock(e.retry_at_ms) : ""),
        el("td", { class: "ok" }, ago(e.last_ok_ms)),
        el("td", {}, e.last_error ? el("div", {}, ago(e.last_error.at_ms), el("div", { class: "answer last-error" }, e.last_error.answer)) : "none"),
        el("td", {}, button, result));
    }),
  );
}

// ---- ledger ------------------------------------------------------------------------

async function loadLedger() {
  const [day, month, byStatus] = await Promise.all([
    api("ledger/online?range=24h"),
    api("ledger/online?range=30d"),
    api("ledger/status?days=30"),
  ]);
  lineChart($("chart-24h"), {
    fromMs: day.from_ms, stepMs: day.step_ms, values: day.users, title: "Users online, last 24 hours",
    label: (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false }),
  });
  lineChart($("chart-30d"), {
    fromMs: month.from_ms, stepMs: month.step_ms, values: month.users, title: "Users online, last 30 days",
    label: (ms) => new Date(ms).toISOString().slice(5, 10),
  });
  stackedBars($("chart-status"), {
    title: "Time online by status per day",
    labels: byStatus.days.map((d) => d.day),
    series: [
      { name: "active", cls: "active", values: byStatus.days.map((d) => d.active_ms) },
      { name: "idle", cls: "idle", values: byStatus.days.map((d) => d.idle_ms) },
      { name: "hidden", cls: "hidden", values: byStatus.days.map((d) => d.hidden_ms) },
    ],
    format: hours,
  });
}

$("user-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const id = $("user-id").value.trim();
  try {
    const u = await api(`ledger/user?id=${encodeURIComponent(id)}`);
    $("user-note").textContent = u.known
      ? `${u.name ?? u.id}: ${u.online.length} sessions online and ${u.sessions.length} in channels over 30 days${u.truncated ? " (the newest)" : ""}.`
      : `The ledger does not know ${u.id}.`;
    const rows = [{ label: "online", cls: "online", spans: u.online.map((s) => [s.started_ms, s.ended_ms ?? u.now_ms]) }];
    const byChannel = new Map();
    for (const s of u.sessions) {
      if (!byChannel.has(s.channel)) byChannel.set(s.channel, []);
      byChannel.get(s.channel).push([s.started_ms, s.ended_ms ?? u.now_ms]);
    }
    for (const [ch, spans] of byChannel) rows.push({ label: ch, cls: "session", spans });
    const first = Math.min(u.now_ms - 3_600_000, ...rows.flatMap((r) => r.spans.map((s) => s[0])));
    timeline($("chart-timeline"), {
      fromMs: Math.max(u.from_ms, first), toMs: u.now_ms, rows, title: `Sessions of ${u.id}`,
      label: (ms) => new Date(ms).toISOString().slice(5, 16).replace("T", " "),
    });
    hbars($("chart-channels"), {
      title: `Time per channel of ${u.id}`,
      items: u.per_channel.map((c) => ({ label: c.channel, value: c.ms })),
      format: hours,
    });
  } catch (err) {
    if (failed(err)) return;
    $("user-note").textContent = err.message;
  }
});

// ---- start -------------------------------------------------------------------------

(async () => {
  try {
    // With a key kept from earlier in this tab, or in --demo mode (no key needed).
    const r = await api("login", { method: "POST" });
    showApp(r.demo);
  } catch (err) {
    if (err instanceof Unauthorized) showLogin(keyless(err) ? NO_KEY : "");
    else showLogin(err.message);
  }
})();
