//! A keyed list of people that animates joins and leaves.
//!
//! Each render gets the whole user list from a channel state; items are matched by user
//! id so that a person already shown keeps their element (no flicker), a newcomer
//! plays the enter animation and a person who left plays the leave animation before
//! the element goes. Leaving items carry `data-leaving` so they are not counted.

const LEAVE_MS = 450;

export class Roster {
  /**
   * @param {HTMLElement} list  a <ul> or <ol>
   * @param {object} options
   * @param {(user) => HTMLElement} options.create  builds the content of a new item
   * @param {(el, user) => void} options.update      refreshes an item's content
   * @param {string} [options.selfId]                shown first
   * @param {number} [options.limit]                 items beyond are summed up in a "+N"
   */
  constructor(list, { create, update, selfId, limit = Infinity }) {
    this.list = list;
    this.create = create;
    this.update = update;
    this.selfId = selfId;
    this.limit = limit;
    this.items = new Map();
    this.more = null;
  }

  render(users) {
    const byId = new Map(users.map((user) => [user.id, user]));
    // Self first, then people in the order they arrived: nobody jumps around.
    const order = [];
    if (byId.has(this.selfId)) order.push(this.selfId);
    for (const id of this.items.keys()) {
      if (byId.has(id) && id !== this.selfId) order.push(id);
    }
    for (const user of users) {
      if (!this.items.has(user.id) && user.id !== this.selfId) order.push(user.id);
    }
    const shown = order.slice(0, this.limit);
    const wanted = new Set(shown);

    for (const [id, item] of this.items) {
      if (!wanted.has(id)) {
        this.items.delete(id);
        leave(item);
      }
    }
    let cursor = this.list.firstElementChild;
    for (const id of shown) {
      const user = byId.get(id);
      let item = this.items.get(id);
      if (item) {
        this.update(item.firstElementChild, user);
      } else {
        item = document.createElement("li");
        item.className = "roster-item entering";
        item.dataset.user = id;
        item.append(this.create(user));
        item.addEventListener("animationend", () => item.classList.remove("entering"), {
          once: true,
        });
        this.items.set(id, item);
      }
      item.dataset.name = user.name || id;
      item.dataset.status = user.status || "active";
      item.classList.toggle("is-self", id === this.selfId);
      // Leaving items keep their place until their animation ends.
      while (cursor && (cursor.hasAttribute("data-leaving") || cursor === this.more)) {
        cursor = cursor.nextElementSibling;
      }
      if (item === cursor) cursor = cursor.nextElementSibling;
      else this.list.insertBefore(item, cursor);
    }
    this.renderMore(order.length - shown.length);
  }

  renderMore(hidden) {
    if (hidden > 0) {
      if (!this.more) {
        this.more = document.createElement("li");
        this.more.className = "roster-more";
      }
      this.more.textContent = `+${hidden}`;
      this.more.setAttribute("aria-label", `and ${hidden} more`);
      this.list.append(this.more);
    } else if (this.more) {
      this.more.remove();
      this.more = null;
    }
  }
}

function leave(item) {
  item.dataset.leaving = "";
  item.setAttribute("aria-hidden", "true");
  item.classList.remove("entering");
  item.classList.add("leaving");
  const done = () => item.remove();
  item.addEventListener("animationend", done, { once: true });
  // If animations are off (reduced motion), animationend never fires.
  setTimeout(done, LEAVE_MS + 100);
}
