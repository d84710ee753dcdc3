// `@tracked` fields without decorator syntax, so the package ships as plain ESM that
// no app has to transpile.
import { tracked } from "@glimmer/tracking";

/**
 * Defines tracked properties on `Class.prototype`, each starting at what its
 * function returns (called per instance, so arrays are not shared). This is the call a
 * transpiled `@tracked name = initial()` makes.
 */
export function trackedFields(Class, fields) {
  for (const [key, initial] of Object.entries(fields)) {
    const field = { configurable: true, enumerable: true, writable: true, initializer: initial };
    Object.defineProperty(Class.prototype, key, tracked(Class.prototype, key, field));
  }
}
