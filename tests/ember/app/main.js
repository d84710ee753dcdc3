// The test app: the README's route, component and template, the addon's app-js files
// under the app's own paths (as ember-cli and Embroider merge them), and a scene the
// test drives through `window.t`.
import Application from "@ember/application";
import EmberRouter from "@ember/routing/router";
import Resolver from "ember-resolver";
import appJs from "virtual:app-js";
import ApplicationRoute from "readme:ember-configure.js";
import ApplicationTemplate from "./templates/application.gjs";
import { scene } from "./scene.js";

class Router extends EmberRouter {
  location = "none";
  rootURL = "/";
}

class App extends Application {
  modulePrefix = "my-app";
  Resolver = Resolver.withModules({
    "my-app/router": { default: Router },
    "my-app/routes/application": { default: ApplicationRoute },
    "my-app/templates/application": { default: ApplicationTemplate },
    ...appJs("my-app"),
  });
}

App.instanceInitializer({
  name: "test-hooks",
  initialize(instance) {
    window.t.owner = instance;
  },
});

/** Every event and state the page saw, per channel, for the test to read. */
const log = [];

window.t = {
  scene,
  log,
  owner: null,
  presence: () => window.t.owner.lookup("service:presence"),
  /** Records every join, leave, update and state of `name`, as the SDK reports them. */
  async record(name) {
    const channel = (await window.t.presence().connection()).channel(name);
    const at = () => Math.round(performance.now());
    for (const type of ["join", "leave", "update"]) {
      channel.on(type, (user) => log.push({ at: at(), ch: name, type, id: user.id, meta: user.meta }));
    }
    await new Promise((resolve) => {
      channel.subscribe((state) => {
        log.push({ at: at(), ch: name, type: "state", count: state.count, ids: state.users.map((u) => u.id).sort() });
        resolve();
      });
    });
  },
  /** What a part shows: its count line and its users, as rendered. */
  shown(key) {
    const part = document.querySelector(`[data-part="${key}"]`);
    if (!part) return null;
    return {
      text: part.textContent.replace(/\s+/g, " ").trim(),
      users: [...part.querySelectorAll("li")].map((li) => li.textContent.trim()),
    };
  },
  /** Every text a part showed, from a MutationObserver: proof of what was never rendered. */
  texts: {},
  watchText(key) {
    const texts = (window.t.texts[key] = []);
    const note = () => {
      const text = window.t.shown(key)?.text ?? null;
      if (texts.at(-1) !== text) texts.push(text);
    };
    note();
    new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true });
  },
};

App.create({ rootElement: "#app" });
