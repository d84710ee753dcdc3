// For Glint in loose-mode (.hbs) templates:
//   import type RollcallRegistry from "@rollcall/ember/template-registry";
//   declare module "@glint/environment-ember-loose/registry" {
//     export default interface Registry extends RollcallRegistry {}
//   }
import type PresentModifier from "./modifiers/present";

export default interface RollcallRegistry {
  present: typeof PresentModifier;
}
