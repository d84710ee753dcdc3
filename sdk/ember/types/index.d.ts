export { default as PresenceService } from "./services/presence";
export type { PresenceOptions } from "./services/presence";
export type { PresenceChannel, ChannelStatus } from "./channel";
export { default as present } from "./modifiers/present";
export type { PresentSignature } from "./modifiers/present";
