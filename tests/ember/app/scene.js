// What the test shows on the page: a list of parts, each a component of the app on a
// channel. The test drives it through `window.scene`.
import { tracked } from "@glimmer/tracking";

export class Part {
  @tracked typing = false;
  @tracked channel;

  constructor(key, kind, channel) {
    this.key = key;
    this.kind = kind;
    this.channel = channel;
  }
}

class Scene {
  @tracked parts = [];

  add(key, kind, channel) {
    this.parts = [...this.parts, new Part(key, kind, channel)];
  }

  remove(key) {
    this.parts = this.parts.filter((part) => part.key !== key);
  }

  /** The part under a new key: Glimmer tears its component down and renders a new one in one render. */
  rekey(key, newKey) {
    this.parts = this.parts.map((part) => (part.key === key ? new Part(newKey, part.kind, part.channel) : part));
  }

  type(key, typing) {
    this.parts.find((part) => part.key === key).typing = typing;
  }

  /** The same component, its channel argument changed. */
  move(key, channel) {
    this.parts.find((part) => part.key === key).channel = channel;
  }
}

export const scene = new Scene();
