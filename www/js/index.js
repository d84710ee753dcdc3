//! The home page: everyone online, where they are, live counts for topics and
//! documents (viewed without entering), and a log of comings and goings.

import { startApp, usersOf, countOf, clock } from "./app.js";
import { TOPICS, DOCS } from "./catalog.js";
import { avatar, updateAvatar, displayName, statusText } from "./avatar.js";
import { Roster } from "./roster.js";

const ACTIVITY_LIMIT = 8;
const SAFE_HREF = /^(?:\.\/|(?:topic|doc)\.html\?id=[a-z0-9][a-z0-9-]{0,39})$/;

const links = [
  ...TOPICS.map((topic) => ({
    list: "topic-links", channel: `/topic/${topic.id}`, href: `topic.html?id=${topic.id}`,
    title: topic.title, verb: "reading",
  })),
  ...DOCS.map((doc) => ({
    list: "doc-links", channel: `/doc/${doc.id}`, href: `doc.html?id=${doc.id}`,
    title: doc.title, verb: "editing",
  })),
];

for (const link of links) {
  const item = document.createElement("li");
  item.className = "link-row";
  const anchor = document.createElement("a");
  anchor.href = link.href;
  anchor.textContent = link.title;
  const people = document.createElement("ul");
  people.className = "avatar-stack avatar-stack-xs";
  const count = document.createElement("span");
  count.className = "link-count";
  count.dataset.channel = link.channel;
  count.textContent = "";
  item.append(anchor, people, count);
  document.getElementById(link.list).append(item);
  link.people = people;
  link.count = count;
}

const app = await startApp({
  where: { where: "on the home page", href: "./" },
  serverChannels: links.map((link) => link.channel),
});

// The people list.
const people = new Roster(document.getElementById("people"), {
  selfId: app.me.id,
  create: (user) => personRow(user, app.me.id),
  update: (row, user) => updatePersonRow(row, user, app.me.id),
});
app.watchEntered(app.site, (state) => {
  const users = usersOf(state);
  people.render(users);
  const count = countOf(state);
  document.getElementById("people-count").textContent = `${count.toLocaleString("en")} online`;
  const empty = document.getElementById("people-empty");
  empty.hidden = users.length > 0;
  empty.textContent = "Nobody is here yet.";
  // A capped list (the demo's scripts/demo.toml): some names and how many others.
  const summary = document.getElementById("people-summary");
  summary.hidden = state.capped === null;
  summary.textContent = state.capped === null ? "" : whoIsOnline(users, count, app.me.id);
  document.getElementById("everyone").hidden = state.capped === null;
  document.getElementById("people-cap").textContent = String(state.capped ?? "");
});

/** "You, Ada, Grace and 1,234 others": the names the relay sent, then the count of the rest. */
export function whoIsOnline(users, count, selfId) {
  const names = [...users]
    .sort((a, b) => (a.id === selfId ? -1 : b.id === selfId ? 1 : 0))
    .map((user) => (user.id === selfId ? "You" : displayName(user)));
  const others = count - users.length;
  if (others <= 0) return `${names.join(", ")}.`;
  return `${names.join(", ")} and ${others.toLocaleString("en")} ${others === 1 ? "other" : "others"}.`;
}

// Everyone, page by page, on request.
let after = null;
const everyoneList = document.getElementById("everyone-list");
const moreButton = document.getElementById("people-more");
moreButton.addEventListener("click", async () => {
  moreButton.disabled = true;
  try {
    const page = await app.site.members({ limit: 50, ...(after === null ? {} : { after }) });
    for (const user of page.users) {
      const item = document.createElement("li");
      item.dataset.user = user.id;
      item.append(avatar(user, { size: "xs" }), ` ${displayName(user)}`);
      everyoneList.append(item);
    }
    after = page.next;
    moreButton.textContent = after === null ? "That is everyone" : "Show more";
    moreButton.disabled = after === null;
  } catch (error) {
    app.fail("Could not list everyone", error);
    moreButton.disabled = false;
  }
});

// Live counts for every topic and document, viewed without entering them.
for (const link of links) {
  const roster = new Roster(link.people, {
    limit: 4,
    create: (user) => avatar(user, { size: "xs" }),
    update: updateAvatar,
  });
  app.channel(link.channel).subscribe((state) => {
    const count = countOf(state);
    roster.render(usersOf(state));
    link.count.textContent = count > 0 ? `${count} ${link.verb}` : "";
  });
}

// Comings and goings.
const activity = document.getElementById("activity");
const log = (user, what) => {
  document.getElementById("activity-empty").hidden = true;
  const item = document.createElement("li");
  item.className = "activity-item entering";
  const time = document.createElement("time");
  const now = new Date();
  time.dateTime = now.toISOString();
  time.textContent = clock(now);
  const text = document.createElement("span");
  text.textContent = `${displayName(user)} ${what}`;
  item.append(avatar(user, { size: "xs", dot: false }), text, time);
  activity.prepend(item);
  while (activity.children.length > ACTIVITY_LIMIT) activity.lastElementChild.remove();
};
app.onSiteChange((kind, user) => log(user, kind === "join" ? "came online" : "left"));

function personRow(user, selfId) {
  const row = document.createElement("div");
  row.className = "person";
  const name = document.createElement("span");
  name.className = "person-name";
  const detail = document.createElement("span");
  detail.className = "person-detail";
  const text = document.createElement("span");
  text.className = "person-text";
  text.append(name, detail);
  row.append(avatar(user), text);
  updatePersonRow(row, user, selfId);
  return row;
}

function updatePersonRow(row, user, selfId) {
  updateAvatar(row.querySelector(".avatar"), user);
  const name = row.querySelector(".person-name");
  name.textContent = displayName(user);
  if (user.id === selfId) {
    const you = document.createElement("span");
    you.className = "you";
    you.textContent = "you";
    name.append(" ", you);
  }
  const detail = row.querySelector(".person-detail");
  const where = user.meta && typeof user.meta.where === "string" ? user.meta.where : "";
  detail.textContent = statusText(user.status);
  if (!where) return;
  detail.append(" · ");
  const href = user.meta.href;
  // Meta comes from other browsers: only the demo's own pages become links.
  if (user.id !== selfId && typeof href === "string" && SAFE_HREF.test(href)) {
    const link = document.createElement("a");
    link.href = href;
    link.textContent = where;
    detail.append(link);
  } else {
    detail.append(where);
  }
}
