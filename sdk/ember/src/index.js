// @rollcall/ember: rollcall's presence in an Ember app.
export { default as PresenceService } from "./services/presence.js";
export { default as present } from "./modifiers/present.js";
export { PresenceChannel } from "./channel.js";
