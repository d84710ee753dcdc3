export { default } from "@rollcall/ember/services/presence";
