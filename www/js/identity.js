//! Who this browser profile is in the demo: a random user id and a display name,
//! kept in localStorage so every tab of the profile is the same person.

const KEY = "rollcall-demo/identity";
export const MAX_NAME_CHARS = 40;

const ADJECTIVES = [
  "Amber", "Brave", "Breezy", "Calm", "Clever", "Cosy", "Dapper", "Eager", "Gentle",
  "Golden", "Happy", "Jolly", "Kind", "Lively", "Lucky", "Mellow", "Merry", "Nimble",
  "Plucky", "Quiet", "Rosy", "Sunny", "Swift", "Witty",
];
const ANIMALS = [
  "Otter", "Heron", "Fox", "Badger", "Lynx", "Panda", "Robin", "Wren", "Koala",
  "Marten", "Puffin", "Seal", "Hare", "Owl", "Finch", "Lark", "Ibex", "Gecko", "Tapir",
  "Quokka", "Newt", "Dolphin", "Falcon", "Walrus",
];

function randomInt(below) {
  const buf = new Uint32Array(1);
  crypto.getRandomValues(buf);
  return buf[0] % below;
}

// getRandomValues rather than randomUUID: the demo may be opened over plain http on
// a LAN address, which is not a secure context.
function randomUserId() {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return "u-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function randomName() {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]} ${ANIMALS[randomInt(ANIMALS.length)]}`;
}

export function cleanName(raw) {
  const name = String(raw ?? "").replace(/\s+/g, " ").trim();
  return Array.from(name).slice(0, MAX_NAME_CHARS).join("");
}

function read() {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) ?? "null");
    if (value && typeof value.id === "string" && value.id && typeof value.name === "string") {
      return { id: value.id, name: cleanName(value.name) || randomName() };
    }
  } catch {
    // A value we cannot read is replaced by a fresh identity below.
  }
  return null;
}

/** The identity of this profile, created on first visit. */
export function identity() {
  let me = read();
  if (!me) {
    me = { id: randomUserId(), name: randomName() };
    localStorage.setItem(KEY, JSON.stringify(me));
  }
  return me;
}

/** Stores a new display name; every tab of the profile sees it through `onIdentityChange`. */
export function rename(name) {
  const clean = cleanName(name);
  if (!clean) throw new Error("A name needs at least one letter.");
  const me = { ...identity(), name: clean };
  localStorage.setItem(KEY, JSON.stringify(me));
  return me;
}

/** Calls `fn` when another tab of this profile changes the identity. */
export function onIdentityChange(fn) {
  window.addEventListener("storage", (event) => {
    if (event.key === KEY) fn(identity());
  });
}

/** Fetches a demo token for the current identity (read afresh, so a rename applies). */
export async function demoToken() {
  const me = identity();
  const query = new URLSearchParams({ user: me.id, name: me.name });
  const response = await fetch(`/demo/token?${query}`, { cache: "no-store" });
  if (!response.ok) {
    throw new Error(`the relay refused a demo token (HTTP ${response.status})`);
  }
  const body = await response.json();
  if (typeof body.token !== "string") throw new Error("the relay's token answer had no token");
  return body.token;
}
