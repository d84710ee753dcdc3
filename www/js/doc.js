//! A document page: "who's editing" and a live "typing…" on channel /doc/<id>, driven
//! by the presence meta `{typing: true}` while keys are pressed and `false` after a
//! short pause.

import { startApp, usersOf, countOf } from "./app.js";
import { pageId, docById } from "./catalog.js";
import { avatar, updateAvatar, displayName, statusText } from "./avatar.js";
import { Roster } from "./roster.js";

const TYPING_PAUSE_MS = 1_500;

const id = pageId();
const doc = id ? docById(id) : null;
const channelName = id ? `/doc/${id}` : null;
const textKey = `rollcall-demo/doc/${id}`;

const title = doc ? doc.title : "No such document";
document.getElementById("doc-title").textContent = title;
document.title = `${title} · rollcall demo`;
const textarea = document.getElementById("doc-text");
textarea.value = doc ? localStorage.getItem(textKey) ?? doc.text : "";
textarea.disabled = !doc;
if (!doc) document.getElementById("editing-count").textContent = "nobody editing";

const app = await startApp({
  where: doc ? { where: `editing \u201c${doc.title}\u201d`, href: `doc.html?id=${id}` } : { where: "lost" },
  serverChannels: channelName ? [channelName] : [],
});

if (channelName) {
  const channel = app.channel(channelName);
  const editors = new Roster(document.getElementById("editors"), {
    selfId: app.me.id,
    create: (user) => editorRow(user),
    update: updateEditorRow,
  });
  app.watchEntered(channel, (state) => {
    const users = usersOf(state);
    editors.render(users);
    const count = countOf(state);
    document.getElementById("editing-count").textContent = `${count} editing`;
    renderTyping(users.filter((user) => user.id !== app.me.id && user.meta?.typing === true));
  });

  // Typing is sent only once the enter succeeded: an update before would have nothing
  // to update.
  const entered = await app.enter(channel, { typing: false }, "this document");
  let typing = false;
  let pause = null;
  const setTyping = (value) => {
    if (!entered || typing === value) return;
    typing = value;
    app.update(channel, { typing: value });
  };
  textarea.addEventListener("input", () => {
    localStorage.setItem(textKey, textarea.value);
    setTyping(true);
    clearTimeout(pause);
    pause = setTimeout(() => setTyping(false), TYPING_PAUSE_MS);
  });
  textarea.addEventListener("blur", () => {
    clearTimeout(pause);
    setTyping(false);
  });
}

function renderTyping(typists) {
  const line = document.getElementById("typing");
  const names = typists.map(displayName);
  line.dataset.typing = names.join("\n");
  line.replaceChildren();
  if (names.length === 0) return;
  const text = names.length === 1
    ? `${names[0]} is typing`
    : names.length === 2
      ? `${names[0]} and ${names[1]} are typing`
      : `${names.length} people are typing`;
  const dots = document.createElement("span");
  dots.className = "typing-dots";
  dots.setAttribute("aria-hidden", "true");
  dots.append(document.createElement("i"), document.createElement("i"), document.createElement("i"));
  line.append(dots, `${text}\u2026`);
}

function editorRow(user) {
  const row = document.createElement("div");
  row.className = "person";
  const text = document.createElement("span");
  text.className = "person-text";
  const name = document.createElement("span");
  name.className = "person-name";
  const detail = document.createElement("span");
  detail.className = "person-detail";
  text.append(name, detail);
  row.append(avatar(user), text);
  updateEditorRow(row, user);
  return row;
}

function updateEditorRow(row, user) {
  updateAvatar(row.querySelector(".avatar"), user);
  const name = row.querySelector(".person-name");
  name.textContent = displayName(user);
  if (user.id === app.me.id) {
    const you = document.createElement("span");
    you.className = "you";
    you.textContent = "you";
    name.append(" ", you);
  }
  const isTyping = user.meta?.typing === true;
  row.classList.toggle("is-typing", isTyping);
  row.querySelector(".person-detail").textContent = isTyping ? "typing…" : statusText(user.status);
}
