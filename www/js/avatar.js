//! Avatars: initials on a colour derived from the user id, and a status dot.

const STATUS_TEXT = { active: "active", idle: "idle", hidden: "in the background" };

export function initials(name) {
  const words = String(name ?? "").trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return "?";
  const letters = words.length === 1
    ? Array.from(words[0]).slice(0, 2)
    : [Array.from(words[0])[0], Array.from(words[words.length - 1])[0]];
  return letters.join("").toUpperCase();
}

// Hues (OKLCH) that stay clear and readable under white initials; the yellows and
// olives in between look muddy at this lightness, so they are left out.
const HUES = [20, 50, 150, 175, 200, 230, 255, 280, 305, 330, 355];

/** A hue from the user id (FNV-1a), so a person keeps their colour everywhere. */
export function hueOf(id) {
  let hash = 0x811c9dc5;
  for (const char of String(id)) {
    hash ^= char.codePointAt(0);
    hash = Math.imul(hash, 0x01000193);
  }
  return HUES[(hash >>> 0) % HUES.length];
}

export function statusText(status) {
  return STATUS_TEXT[status] ?? "active";
}

export function displayName(user) {
  return user.name || user.id;
}

/** An avatar element; `updateAvatar` keeps it in step with later states of the user. */
export function avatar(user, { size = "md", dot = true } = {}) {
  const el = document.createElement("span");
  el.className = `avatar avatar-${size}`;
  el.setAttribute("role", "img");
  el.style.setProperty("--hue", String(hueOf(user.id)));
  const letters = document.createElement("span");
  letters.className = "avatar-initials";
  letters.setAttribute("aria-hidden", "true");
  el.append(letters);
  if (dot) {
    const statusDot = document.createElement("span");
    statusDot.className = "status-dot";
    statusDot.setAttribute("aria-hidden", "true");
    el.append(statusDot);
  }
  updateAvatar(el, user);
  return el;
}

export function updateAvatar(el, user) {
  const name = displayName(user);
  const status = STATUS_TEXT[user.status] ? user.status : "active";
  el.querySelector(".avatar-initials").textContent = initials(name);
  el.dataset.status = status;
  const label = el.querySelector(".status-dot") ? `${name}, ${statusText(status)}` : name;
  el.setAttribute("aria-label", label);
  el.title = label;
}
