//! The demo's pretend content: a few topics to read and documents to edit.

export const TOPICS = [
  {
    id: "welcome",
    title: "Welcome to rollcall",
    paragraphs: [
      "rollcall answers one question for a web app: who is here right now? Who is online on the site, who is reading this topic, who is typing, who is editing this document.",
      "Your site signs a short token for its logged-in user. The browser hands it to the relay, the relay keeps the authoritative list, and every page that cares is told about joins, leaves and updates as they happen.",
      "Open this page in a second browser profile or a private window: the count above goes to 2. Open it in another tab of this browser: it stays at 1, because tabs of one browser are one person.",
    ],
  },
  {
    id: "leases",
    title: "How a presence ends",
    paragraphs: [
      "Leaving on purpose is instant. Closing the page or navigating away starts a short unload grace, so a refresh or a click to the next page never shows anyone leaving and coming back.",
      "A dropped network gets a longer reconnect grace: a laptop lid closed for a few seconds is not a leave. A tab that died silently is dropped when its lease runs out.",
      "Try it: close this tab and watch the other browser. Refresh it instead, and nothing happens at all.",
    ],
  },
  {
    id: "tabs",
    title: "One connection per browser",
    paragraphs: [
      "However many tabs you open, a browser holds exactly one connection to the relay. The tabs elect a leader; the others talk to it over a BroadcastChannel.",
      "Close the leader and another tab takes over inside the grace window: nobody else sees a flicker.",
      "The panel \u201cOne connection per browser\u201d counts the tabs of this browser and the connections they hold. Open a few tabs and close the one that says it holds the connection.",
    ],
  },
];

export const DOCS = [
  {
    id: "roadmap",
    title: "Roadmap draft",
    text: "Q1\n- Presence in the editor sidebar\n- Typing indicators in comments\n\nQ2\n- Count-only channels for big rooms\n",
  },
  {
    id: "notes",
    title: "Meeting notes",
    text: "Attendees:\n\nDecisions:\n\nFollow-ups:\n",
  },
];

const ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,39}$/;

/** The id from `?id=`, or null when there is none or it cannot be a channel segment. */
export function pageId() {
  const id = new URLSearchParams(location.search).get("id");
  return id && ID_PATTERN.test(id) ? id : null;
}

export function topicById(id) {
  return TOPICS.find((topic) => topic.id === id) ?? {
    id,
    title: `Topic \u201c${id}\u201d`,
    paragraphs: ["This topic has no text, but presence works here all the same."],
  };
}

export function docById(id) {
  return DOCS.find((doc) => doc.id === id) ?? { id, title: `Document \u201c${id}\u201d`, text: "" };
}
