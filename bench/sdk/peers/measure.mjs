// What a page downloads for presence, rollcall's package beside the browser clients
// people use for it: for each, a small app that connects, joins one channel, shows who
// is there and is told of changes, bundled for the browser by esbuild (minified, ESM),
// then `gzip -9`. rollcall's app is bundled the same way from sdk/dist; its wasm is a
// file of its own, gzipped alone and added. Prints a Markdown table and one JSON line.
//
//   npm ci --prefix bench/sdk/peers     # once: the peers' pinned versions
//   bash sdk/build.sh                    # rollcall's package
//   node bench/sdk/peers/measure.mjs
//
// Each app uses the client as its docs show presence; the figure is the client with
// what a presence page needs of it, not the client's whole API (a bundler drops the rest
// where the client lets it).

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const ROOT = path.resolve(HERE, "../../..");
const ESBUILD = path.join(ROOT, "node_modules/.bin/esbuild");
const DIST = path.join(ROOT, "sdk/dist");

const APPS = {
  rollcall: `
    import { connect } from ${JSON.stringify(path.join(DIST, "rollcall.js"))};
    const presence = await connect({ url: "https://presence.example.com", token: "t" });
    const lobby = presence.channel("/room/lobby");
    lobby.subscribe(({ count, users }) => console.log(count, users));
    lobby.on("join", (user) => console.log("join", user));
    await lobby.enter({ typing: false });`,
  phoenix: `
    import { Socket, Presence } from "phoenix";
    const socket = new Socket("/socket", { params: { token: "t" } });
    socket.connect();
    const channel = socket.channel("room:lobby");
    const presence = new Presence(channel);
    presence.onSync(() => console.log(presence.list()));
    presence.onJoin((id) => console.log("join", id));
    channel.join();`,
  "socket.io-client": `
    import { io } from "socket.io-client";
    const socket = io("https://presence.example.com", { auth: { token: "t" } });
    socket.on("online", (users) => console.log(users.length, users));
    socket.on("joined", (user) => console.log("join", user));
    socket.emit("enter", "lobby");`,
  "@supabase/realtime-js": `
    import { RealtimeClient } from "@supabase/realtime-js";
    const client = new RealtimeClient("wss://example.supabase.co/realtime/v1", { params: { apikey: "k" } });
    const channel = client.channel("room:lobby", { config: { presence: { key: "me" } } });
    channel
      .on("presence", { event: "sync" }, () => console.log(channel.presenceState()))
      .on("presence", { event: "join" }, ({ newPresences }) => console.log("join", newPresences))
      .subscribe(async (status) => { if (status === "SUBSCRIBED") await channel.track({ typing: false }); });`,
  "pusher-js": `
    import Pusher from "pusher-js";
    const pusher = new Pusher("key", { cluster: "mt1", channelAuthorization: { endpoint: "/auth" } });
    const channel = pusher.subscribe("presence-lobby");
    channel.bind("pusher:subscription_succeeded", (members) => console.log(members.count));
    channel.bind("pusher:member_added", (member) => console.log("join", member));`,
  centrifuge: `
    import { Centrifuge } from "centrifuge";
    const client = new Centrifuge("wss://example.com/connection/websocket", { token: "t" });
    const sub = client.newSubscription("lobby", { joinLeave: true });
    sub.on("join", (ctx) => console.log("join", ctx.info));
    sub.on("subscribed", async () => console.log(await sub.presence()));
    sub.subscribe();
    client.connect();`,
  ably: `
    import * as Ably from "ably";
    const client = new Ably.Realtime({ authUrl: "/auth" });
    const channel = client.channels.get("lobby");
    channel.presence.subscribe("enter", (member) => console.log("join", member));
    await channel.presence.enter({ typing: false });
    console.log(await channel.presence.get());`,
  "@liveblocks/client": `
    import { createClient } from "@liveblocks/client";
    const client = createClient({ publicApiKey: "pk_example" });
    const { room } = client.enterRoom("lobby", { initialPresence: { typing: false } });
    room.subscribe("others", (others) => console.log(others.length, others));`,
};

if (!existsSync(path.join(HERE, "node_modules"))) {
  console.error("measure: the peers are not installed: npm ci --prefix bench/sdk/peers");
  process.exit(2);
}
if (!existsSync(path.join(DIST, "rollcall.js"))) {
  console.error("measure: sdk/dist is not built: bash sdk/build.sh");
  process.exit(2);
}

const version = (name) =>
  name === "rollcall"
    ? JSON.parse(readFileSync(path.join(ROOT, "sdk/package.json"), "utf8")).version
    : JSON.parse(readFileSync(path.join(HERE, "node_modules", name, "package.json"), "utf8")).version;
const gzipped = (bytes) => gzipSync(bytes, { level: 9 }).length;

const work = mkdtempSync(path.join(tmpdir(), "rollcall-peers-"));
const rows = [];
try {
  for (const [name, source] of Object.entries(APPS)) {
    const entry = path.join(work, `${name.replace(/\W/g, "_")}.mjs`);
    const out = `${entry}.bundle.js`;
    writeFileSync(entry, source);
    execFileSync(
      ESBUILD,
      [entry, "--bundle", "--minify", "--format=esm", "--platform=browser", "--log-level=error", `--outfile=${out}`],
      { cwd: HERE, env: { ...process.env, NODE_PATH: path.join(HERE, "node_modules") } },
    );
    const js = readFileSync(out);
    const wasm = name === "rollcall" ? readFileSync(path.join(DIST, "rollcall_sdk_bg.wasm")) : null;
    const js_gz = gzipped(js);
    const wasm_gz = wasm ? gzipped(wasm) : 0;
    rows.push({ name, version: version(name), js: js.length, js_gz, wasm_gz, total_gz: js_gz + wasm_gz });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

rows.sort((a, b) => a.total_gz - b.total_gz);
const kb = (n) => `${(n / 1000).toFixed(1)} KB`;
console.log("| client | version | JS minified | gzipped |");
console.log("|---|---|---|---|");
for (const r of rows) {
  const gz = r.wasm_gz ? `**${kb(r.total_gz)}** (JS ${kb(r.js_gz)} + wasm ${kb(r.wasm_gz)})` : kb(r.total_gz);
  console.log(`| ${r.name} | ${r.version} | ${kb(r.js)} | ${gz} |`);
}
console.log(JSON.stringify({ rows }));
