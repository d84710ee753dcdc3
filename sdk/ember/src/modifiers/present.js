// `{{present "/topic/42" meta=(hash typing=this.typing)}}`: in the channel while the
// element is rendered.

import Modifier from "ember-modifier";
import { getOwner } from "@ember/owner";
import { destroy } from "@ember/destroyable";

/**
 * Enters the channel when the element is inserted, updates the meta when it changes,
 * leaves when the element goes (a moment later, so an element rendered again at once
 * does not flicker). A refusal is on the channel's `error`, e.g. for
 * `presence.getChannel(name).error`.
 */
export default class PresentModifier extends Modifier {
  #channel = null;
  #meta = undefined;

  modify(element, [name], { meta }) {
    if (name !== this.#channel?.name) {
      if (this.#channel) destroy(this.#channel);
      this.#channel = null;
      if (!name) return;
      this.#channel = getOwner(this).lookup("service:presence").getChannel(name, this);
      this.#meta = snapshot(meta);
      this.#channel.enter(this.#meta).catch(() => {});
    } else if (this.#channel && JSON.stringify(snapshot(meta)) !== JSON.stringify(this.#meta)) {
      this.#meta = snapshot(meta);
      this.#channel.update(this.#meta).catch(() => {});
    }
  }
}

/** `(hash)` hands a proxy whose values are read lazily; the SDK wants a plain object. */
function snapshot(meta) {
  if (meta == null) return {};
  return Object.fromEntries(Object.keys(meta).map((key) => [key, meta[key]]));
}
