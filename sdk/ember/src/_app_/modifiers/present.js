export { default } from "@rollcall/ember/modifiers/present";
