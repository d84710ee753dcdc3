//! The frame every demo page shares: the header with the "online now" bar and the
//! connection status, the "this browser" and server API panels, the rename dialog,
//! and the connection to the relay through the public SDK.
//!
//! Pages call `startApp()` and then use `app.channel(name)` for their own channel.

import { identity, rename, onIdentityChange, demoToken, MAX_NAME_CHARS } from "./identity.js";
import { avatar, updateAvatar, displayName } from "./avatar.js";
import { Roster } from "./roster.js";
import { trackTabs } from "./tabs.js";

const SDK_URL = "/sdk/rollcall.js";
export const SITE_CHANNEL = "/site/online";
const SERVER_POLL_MS = 2_000;
const BAR_LIMIT = 6;
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 10_000;
// After the relay comes back, how long this user may be missing from it before the page
// starts afresh (a restarted relay may refuse the old token), and at most how often.
const RESUME_TIMEOUT_MS = 10_000;
const RELOAD_GUARD_MS = 60_000;
const RELOAD_KEY = "rollcall-demo/reloaded-at";

const SHELL = `
<a class="skip-link" href="#main">Skip to content</a>
<header class="site-header">
  <a class="brand" href="./" aria-label="rollcall demo, home">
    <svg class="brand-mark" viewBox="0 0 32 32" aria-hidden="true">
      <circle cx="11" cy="16" r="8" fill="currentColor" opacity=".35"/>
      <circle cx="21" cy="16" r="8" fill="currentColor"/>
    </svg>
    <span class="brand-name">rollcall</span><span class="brand-tag">demo</span>
  </a>
  <section class="online-bar" aria-labelledby="online-bar-label">
    <h2 class="sr-only" id="online-bar-label">Online now</h2>
    <ul class="avatar-stack" id="online-stack"></ul>
    <span class="online-count" id="online-count"><span class="pulse" aria-hidden="true"></span><span id="online-count-text">…</span></span>
  </section>
  <div class="conn" id="conn" data-state="connecting" role="status" aria-live="polite">
    <span class="conn-dot" aria-hidden="true"></span><span class="conn-text" id="conn-text">connecting…</span>
  </div>
  <div class="me">
    <span id="me-avatar"></span>
    <span class="me-text"><span class="me-label">You are</span> <strong id="me-name"></strong></span>
    <button type="button" class="button button-quiet" id="rename-open">Rename</button>
  </div>
</header>
<div class="notice" id="notice" role="alert" hidden></div>
`;

const ASIDE = `
<section class="card" aria-labelledby="browser-h">
  <h2 id="browser-h">One connection per browser</h2>
  <p class="tabs-line" id="tabs-line">this browser: 1 tab, 0 connections</p>
  <p class="muted small" id="leader-line">Waiting for the connection…</p>
</section>
<section class="card" aria-labelledby="server-h" id="server-panel">
  <h2 id="server-h">What the relay says</h2>
  <p class="muted small">The server API (<code>GET /v1/presence</code>) asked every 2 s, here through the
  demo's keyless <code>/demo/presence</code>: what your site's backend would see.</p>
  <table class="server-table">
    <thead><tr><th scope="col">Channel</th><th scope="col">Count</th><th scope="col">Who</th></tr></thead>
    <tbody id="server-rows"></tbody>
  </table>
  <p class="muted small" id="server-updated" aria-live="off">Not asked yet.</p>
  <details class="raw"><summary>Raw answer</summary><pre id="server-raw"></pre></details>
</section>
`;

const FOOTER = `
<footer class="site-footer">
  <p>Open this demo in a second browser profile or a private window to be a second person.
  Demo tokens are handed to anyone who asks: for demos only.</p>
</footer>
<dialog class="dialog" id="rename-dialog" aria-labelledby="rename-h">
  <form method="dialog" id="rename-form">
    <h2 id="rename-h">Your name in the demo</h2>
    <label for="rename-input">Display name</label>
    <input id="rename-input" name="name" required maxlength="${MAX_NAME_CHARS}" autocomplete="nickname">
    <p class="muted small">Every tab of this browser uses the new name. It comes back to others from the relay, inside your signed token.</p>
    <div class="dialog-actions">
      <button type="submit" class="button button-quiet" value="cancel" formnovalidate>Cancel</button>
      <button type="submit" class="button" value="save">Save</button>
    </div>
  </form>
</dialog>
<div class="sr-only" aria-live="polite" id="announcer"></div>
`;

const $ = (id) => document.getElementById(id);

/**
 * Starts the shared frame.
 * @param {object} options
 * @param {object} options.where       meta for /site/online: where this tab is
 * @param {string[]} [options.serverChannels]  more channels for the server API panel
 */
export async function startApp({ where, serverChannels = [] }) {
  const me = identity();
  document.body.insertAdjacentHTML("afterbegin", SHELL);
  $("page-aside")?.insertAdjacentHTML("beforeend", ASIDE);
  document.body.insertAdjacentHTML("beforeend", FOOTER);

  const app = new App(me, where);
  app.setupIdentity();
  app.watchServer([SITE_CHANNEL, ...serverChannels]);
  app.tabs = trackTabs({
    isLeader: () => Boolean(app.presence?.isLeader),
    onChange: (state) => app.renderTabs(state),
  });
  await app.connect();
  return app;
}

class App {
  constructor(me, where) {
    this.me = me;
    this.where = where;
    this.presence = null;
    this.site = null;
    this.channels = new Map();
    // loading -> starting -> started (the SDK runs and reconnects by itself), or
    // retrying while connect() rejects, or failed when the SDK could not load.
    this.sdkState = "loading";
    this.relayReachable = null; // null = not known yet
    /** While the SDK reconnects: when its next attempt starts (Date.now() ms). */
    this.retryAt = null;
    // "live" is what the relay says, not what the socket says: the server API lists
    // this user in /site/online.
    this.listed = false;
    this.wasLive = false;
    this.pollNow = () => {};
    this.siteBaseline = null;
    this.siteListeners = [];
  }

  // ---- identity ---------------------------------------------------------------------

  setupIdentity() {
    $("me-name").textContent = this.me.name;
    this.meAvatar = avatar({ id: this.me.id, name: this.me.name, status: "active" }, { size: "sm" });
    $("me-avatar").replaceWith(this.meAvatar);

    const dialog = $("rename-dialog");
    const input = $("rename-input");
    $("rename-open").addEventListener("click", () => {
      input.value = this.me.name;
      dialog.returnValue = "";
      dialog.showModal();
      input.select();
    });
    dialog.addEventListener("close", () => {
      if (dialog.returnValue !== "save") return;
      try {
        const renamed = rename(input.value);
        if (renamed.name !== this.me.name) this.reloadForName();
      } catch (error) {
        this.fail("Rename", error);
      }
    });
    // The name travels inside the signed token, so a new name means a new token: the
    // page reloads, and the same client resumes inside the unload grace.
    onIdentityChange((next) => {
      if (next.name !== this.me.name || next.id !== this.me.id) this.reloadForName();
    });
  }

  reloadForName() {
    this.setConn("connecting", "renaming…");
    location.reload();
  }

  // ---- connection -------------------------------------------------------------------

  async connect() {
    let sdk;
    try {
      sdk = await import(SDK_URL);
    } catch (error) {
      this.sdkState = "failed";
      this.renderConn();
      $("online-count-text").textContent = "offline";
      $("leader-line").textContent = "No connection: the SDK did not load.";
      this.fail(
        "The SDK did not load",
        new Error(`${SDK_URL} is missing or broken (${error.message}). Build it with “bash sdk/build.sh”, then reload.`),
      );
      throw error;
    }
    this.sdkState = "starting";
    this.renderConn();
    let delay = RETRY_FIRST_MS;
    for (;;) {
      try {
        this.presence = await sdk.connect({ url: location.origin, token: demoToken });
        break;
      } catch (error) {
        this.fail("Could not connect to the relay", error, `retrying in ${Math.round(delay / 1000)} s`);
        this.sdkState = "retrying";
        this.renderConn();
        await sleep(delay);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
    this.sdkState = "started";
    // The SDK's own status: "offline" and "reconnecting" show at once, in every tab.
    this.presence.on("status", ({ retryAt }) => {
      this.retryAt = retryAt;
      this.renderConn();
    });
    this.clearNotice();
    this.renderConn();
    this.renderTabs(this.tabs.snapshot());
    await this.startSite();
  }

  /** The SDK channel object for `name`, made once per page. */
  channel(name) {
    let channel = this.channels.get(name);
    if (!channel) {
      channel = this.presence.channel(name);
      this.channels.set(name, channel);
    }
    return channel;
  }

  /**
   * Subscribes to a channel this page enters. The first callback may come before the
   * relay's snapshot, with nobody in it; this page will be in the channel, so such
   * empty states are skipped until a real one arrives (no "0 reading" flash).
   */
  watchEntered(channel, render) {
    let seen = false;
    return channel.subscribe((state) => {
      if (!seen && countOf(state) === 0) return;
      seen = true;
      render(state);
    });
  }

  /** Enters `channel`, showing why in the notice if the relay says no. */
  async enter(channel, meta, label) {
    try {
      await channel.enter(meta);
      return true;
    } catch (error) {
      this.fail(`Could not join ${label}`, error);
      return false;
    }
  }

  async update(channel, meta) {
    try {
      await channel.update(meta);
    } catch (error) {
      this.fail("Could not send an update", error);
    }
  }

  async startSite() {
    this.site = this.channel(SITE_CHANNEL);
    const roster = new Roster($("online-stack"), {
      selfId: this.me.id,
      limit: BAR_LIMIT,
      create: (user) => avatar(user, { size: "sm" }),
      update: updateAvatar,
    });
    this.watchEntered(this.site, (state) => {
      const users = usersOf(state);
      roster.render(users);
      const count = countOf(state);
      $("online-count-text").textContent = `${count} online`;
      const self = users.find((user) => user.id === this.me.id);
      if (self) updateAvatar(this.meAvatar, self);
      this.diffSite(users);
    });
    await this.enter(this.site, this.where, "the site");
    this.pollNow();
    // Several tabs share one presence: the one in front says where this person is.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.update(this.site, this.where);
    });
  }

  /**
   * Comings and goings, from successive states of /site/online. The first state that
   * lists this user is the baseline: people already here when the page opened did not
   * just arrive.
   */
  diffSite(users) {
    const now = new Map(users.map((user) => [user.id, user]));
    const before = this.siteBaseline;
    if (!before) {
      if (now.has(this.me.id)) this.siteBaseline = now;
      return;
    }
    this.siteBaseline = now;
    for (const [id, user] of now) {
      if (!before.has(id) && id !== this.me.id) this.siteEvent("join", user);
    }
    for (const [id, user] of before) {
      if (!now.has(id) && id !== this.me.id) this.siteEvent("leave", user);
    }
  }

  siteEvent(kind, user) {
    this.announce(`${displayName(user)} ${kind === "join" ? "came online" : "left"}`);
    for (const listener of this.siteListeners) listener(kind, user);
  }

  /** Calls `fn(kind, user)` with kind "join" or "leave" when someone else comes or goes. */
  onSiteChange(fn) {
    this.siteListeners.push(fn);
  }

  // ---- status and errors --------------------------------------------------------------

  renderConn() {
    if (this.sdkState === "failed") return this.setConn("error", "SDK not loaded");
    const status = this.presence?.status;
    if (status === "offline") return this.setConn("offline", "offline");
    if (status === "reconnecting" || this.relayReachable === false || this.sdkState === "retrying") {
      const next = status === "reconnecting" && this.retryAt ? `next attempt at ${clock(new Date(this.retryAt))}` : "";
      return this.setConn("reconnecting", "reconnecting…", next);
    }
    if (this.sdkState === "started" && this.listed) {
      this.wasLive = true;
      return this.setConn("live", "live");
    }
    if (this.wasLive) return this.setConn("reconnecting", "reconnecting…");
    return this.setConn("connecting", "connecting…");
  }

  setConn(state, text, title = "") {
    const conn = $("conn");
    document.body.dataset.conn = state;
    conn.title = title;
    if (conn.dataset.state === state && $("conn-text").textContent === text) return;
    conn.dataset.state = state;
    $("conn-text").textContent = text;
  }

  fail(what, error, next) {
    const notice = $("notice");
    const code = error && error.code ? ` [${error.code}]` : "";
    const message = error && error.message ? error.message : String(error);
    notice.textContent = `${what}: ${message}${code}${next ? ` (${next})` : ""}`;
    notice.hidden = false;
    console.warn(what, error);
  }

  clearNotice() {
    $("notice").hidden = true;
    $("notice").textContent = "";
  }

  announce(text) {
    const announcer = $("announcer");
    announcer.textContent = text;
  }

  // ---- this browser -------------------------------------------------------------------

  renderTabs({ tabs, connections, isLeader }) {
    const line = $("tabs-line");
    if (!line) return;
    line.textContent = `this browser: ${plural(tabs, "tab")}, ${plural(connections, "connection")}`;
    line.dataset.tabs = String(tabs);
    line.dataset.connections = String(connections);
    const leader = $("leader-line");
    if (!this.presence) leader.textContent = "Waiting for the connection…";
    else if (isLeader) leader.textContent = "This tab holds the connection; the others talk to it.";
    else leader.textContent = "Another tab holds the connection; this one talks to it.";
  }

  // ---- server API panel -------------------------------------------------------------

  watchServer(channels) {
    const rows = $("server-rows");
    if (!rows) return;
    const query = new URLSearchParams(channels.map((channel) => ["channel", channel]));
    const cells = new Map();
    for (const channel of channels) {
      const row = rows.insertRow();
      row.dataset.channel = channel;
      const name = row.insertCell();
      name.innerHTML = "<code></code>";
      name.firstChild.textContent = channel;
      const count = row.insertCell();
      count.className = "server-count";
      count.textContent = "–";
      const who = row.insertCell();
      who.className = "server-who";
      const list = document.createElement("ul");
      list.className = "avatar-stack avatar-stack-xs";
      who.append(list);
      cells.set(channel, {
        count,
        roster: new Roster(list, {
          limit: 5,
          create: (user) => avatar(user, { size: "xs" }),
          update: updateAvatar,
        }),
      });
    }

    let timer = null;
    const poll = async () => {
      clearTimeout(timer);
      try {
        const response = await fetch(`/demo/presence?${query}`, { cache: "no-store" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const answer = await response.json();
        for (const [channel, { count, roster }] of cells) {
          const entry = answer[channel];
          const users = entry && Array.isArray(entry.users) ? entry.users : [];
          count.textContent = String(entry ? entry.count : 0);
          count.classList.toggle("server-none", !entry || entry.count === 0);
          roster.render(users);
        }
        $("server-raw").textContent = JSON.stringify(answer, null, 2);
        $("server-updated").textContent = `Answered at ${clock(new Date())}.`;
        $("server-panel").dataset.stale = "false";
        const site = answer[SITE_CHANNEL];
        this.listed = Boolean(site && Array.isArray(site.users) && site.users.some((user) => user.id === this.me.id));
        this.setReachable(true);
        this.renderConn();
        this.checkResumed();
      } catch (error) {
        $("server-updated").textContent = `No answer (${error.message}); asking again…`;
        $("server-panel").dataset.stale = "true";
        this.setReachable(false);
      }
      clearTimeout(timer);
      timer = setTimeout(poll, SERVER_POLL_MS);
    };
    this.pollNow = poll;
    poll();
  }

  /** Starts the page afresh when the relay is back but never took this user back. */
  checkResumed() {
    if (!this.wasLive || this.listed || this.sdkState !== "started") {
      this.unlistedSince = null;
      return;
    }
    this.unlistedSince ??= Date.now();
    if (Date.now() - this.unlistedSince < RESUME_TIMEOUT_MS || this.reloading) return;
    const last = Number(sessionStorage.getItem(RELOAD_KEY) ?? 0);
    if (Date.now() - last < RELOAD_GUARD_MS) {
      this.fail("The relay is back but has not taken this page back", new Error("reload the page to join again"));
      return;
    }
    this.reloading = true;
    sessionStorage.setItem(RELOAD_KEY, String(Date.now()));
    this.fail("The relay is back but has not taken this page back", new Error("starting afresh"), "reloading…");
    setTimeout(() => location.reload(), 1_500);
  }

  setReachable(reachable) {
    if (this.relayReachable === reachable) return;
    const wasDown = this.relayReachable === false;
    this.relayReachable = reachable;
    if (!reachable) {
      this.fail("Lost contact with the relay", new Error("who is shown here may be out of date"), "reconnecting…");
    } else if (wasDown && this.sdkState === "started") {
      this.clearNotice();
    }
    this.renderConn();
  }
}

export function usersOf(state) {
  return state && Array.isArray(state.users) ? state.users : [];
}

export function countOf(state) {
  return state && typeof state.count === "number" ? state.count : usersOf(state).length;
}

export function clock(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
