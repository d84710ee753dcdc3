//! A topic page: "N reading", with the readers' avatars, on channel /topic/<id>.

import { startApp, usersOf, countOf } from "./app.js";
import { TOPICS, pageId, topicById } from "./catalog.js";
import { avatar, updateAvatar } from "./avatar.js";
import { Roster } from "./roster.js";

const id = pageId();
const topic = id ? topicById(id) : null;
const channelName = id ? `/topic/${id}` : null;

document.getElementById("topic-title").textContent = topic ? topic.title : "No such topic";
document.title = `${topic ? topic.title : "No such topic"} · rollcall demo`;
const body = document.getElementById("topic-body");
for (const text of topic ? topic.paragraphs : ["This address names no topic: pick one from the home page."]) {
  const paragraph = document.createElement("p");
  paragraph.textContent = text;
  body.append(paragraph);
}
if (!topic) document.getElementById("reading-count").textContent = "nobody reading";
for (const other of TOPICS.filter((t) => t.id !== id)) {
  const item = document.createElement("li");
  item.className = "link-row";
  const anchor = document.createElement("a");
  anchor.href = `topic.html?id=${other.id}`;
  anchor.textContent = other.title;
  item.append(anchor);
  document.getElementById("other-topics").append(item);
}

const app = await startApp({
  where: topic ? { where: `reading \u201c${topic.title}\u201d`, href: `topic.html?id=${id}` } : { where: "lost" },
  serverChannels: channelName ? [channelName] : [],
});

if (channelName) {
  const channel = app.channel(channelName);
  const readers = new Roster(document.getElementById("readers"), {
    selfId: app.me.id,
    limit: 8,
    create: (user) => avatar(user),
    update: updateAvatar,
  });
  app.watchEntered(channel, (state) => {
    readers.render(usersOf(state));
    document.getElementById("reading-count").textContent = `${countOf(state)} reading`;
  });
  await app.enter(channel, {}, "this topic");
}
