// The README's examples and references, checked against the code and the contract so
// they cannot drift: the Node token example is run as written, the config reference
// must name only keys the relay has, and every error code must be documented.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { decodeProtectedHeader, jwtVerify } from "jose";
import { read, readme, readmeTokenModule, root, section } from "./readme-lib.mjs";

// Keys of the TOML blocks in docs/relay-contract.md as "section.key" ("key" at the top).
function contractKeys() {
  const keys = new Set();
  for (const [, toml] of read("docs/relay-contract.md").matchAll(/```toml\n([\s\S]*?)```/g)) {
    let table = "";
    for (const line of toml.split("\n")) {
      const header = line.match(/^\s*\[\[?([\w.]+)\]\]?/);
      if (header) table = header[1];
      const key = line.match(/^\s*(\w+)\s*=/);
      if (key) keys.add(table ? `${table}.${key[1]}` : key[1]);
    }
  }
  return keys;
}

test("the README's Node example signs an HS256 token with the claims", async (t) => {
  const secret = "readme-test-secret-0123456789abcdef";
  const rollcallToken = await readmeTokenModule(t, secret);
  const token = await rollcallToken({
    id: 7,
    name: "ann",
    avatarUrl: "https://example.com/ann.png",
    groups: ["staff"],
  });

  assert.equal(decodeProtectedHeader(token).alg, "HS256");
  const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), {
    algorithms: ["HS256"],
  });
  assert.equal(payload.sub, "7", "sub is the user id as a string");
  assert.equal(payload.name, "ann");
  assert.equal(payload.avatar, "https://example.com/ann.png");
  assert.deepEqual(payload.groups, ["staff"]);
  const now = Math.floor(Date.now() / 1000);
  assert.ok(payload.exp > now && payload.exp <= now + 600 + 5, `exp ${payload.exp} is ~10 min ahead`);

  await assert.rejects(
    jwtVerify(token, new TextEncoder().encode("another secret"), { algorithms: ["HS256"] }),
    "a token signed with another secret is refused",
  );
});

test("every key in the README's config reference exists in the relay contract or config", () => {
  const documented = [...section("config-reference").matchAll(/^\| `([\w.]+)` \|/gm)].map((m) => m[1]);
  assert.ok(documented.length >= 20, `found only ${documented.length} keys in the reference`);
  const known = contractKeys();
  // A key the relay's config file already reads counts too, until the contract names it.
  const source = ["relay/src/config.rs", "relay/src/limits.rs", "relay/src/pusher/app.rs", "core/src/policy.rs"]
    .filter((path) => existsSync(join(root, path)))
    .map(read)
    .join("\n");
  const inSource = (key) => new RegExp(`\\b${key.split(".").pop()}: `).test(source);
  const unknown = documented.filter((key) => !known.has(key) && !inSource(key));
  assert.deepEqual(unknown, [], "README keys that neither docs/relay-contract.md nor the relay's config knows");
});

test("every error code in core/src/protocol.rs is documented in the README and the protocol doc", () => {
  const codes = [...read("core/src/protocol.rs").matchAll(/ErrorCode::\w+ => "([a-z_]+)"/g)].map((m) => m[1]);
  assert.ok(codes.length >= 10, `found only ${codes.length} error codes`);
  const protocolDoc = read("docs/protocol.md");
  for (const code of codes) {
    assert.ok(readme.includes(`| \`${code}\` |`), `README.md does not list ${code}`);
    assert.ok(protocolDoc.includes(`\`${code}\``), `docs/protocol.md does not list ${code}`);
  }
});

test("docs/protocol.md shows every message type of core/src/protocol.rs, as valid JSON", () => {
  const source = read("core/src/protocol.rs");
  const types = (name) => {
    const list = source.match(new RegExp(`const ${name}: &\\[&str\\] = &\\[([\\s\\S]*?)\\];`));
    assert.ok(list, `no ${name} in core/src/protocol.rs`);
    return [...list[1].matchAll(/"(\w+)"/g)].map((m) => m[1]);
  };
  const known = [...types("CLIENT_TYPES"), ...types("SERVER_TYPES")];
  const doc = read("docs/protocol.md");
  assert.match(doc, /protocol version 1/i);

  const shown = new Set();
  for (const [, block] of doc.matchAll(/```json\n([\s\S]*?)\n```/g)) {
    const msg = JSON.parse(block);
    assert.ok(known.includes(msg.type), `example of unknown type ${msg.type}`);
    shown.add(msg.type);
  }
  for (const type of known) {
    assert.ok(shown.has(type), `no JSON example of ${type}`);
    assert.ok(doc.includes(`### ${type}\n`), `no section for ${type}`);
  }
});

test("the Quick start is exactly the demo command and the test command, both executable", () => {
  const quick = readme.match(/## Quick start\n[\s\S]*?```sh\n([\s\S]*?)\n```/);
  assert.ok(quick, "README.md has no Quick start code block");
  const commands = quick[1].split("\n").map((line) => line.replace(/#.*/, "").trim()).filter(Boolean);
  assert.deepEqual(commands, ["./scripts/demo.sh", "./scripts/test.sh"]);
  for (const script of ["scripts/demo.sh", "scripts/test.sh", ".ci/run"]) {
    assert.ok(statSync(join(root, script)).mode & 0o111, `${script} is not executable`);
  }
  assert.match(read(".ci/run"), /^exec scripts\/test\.sh$/m, ".ci/run runs the README's test command");
});
