import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** @type {import("next").NextConfig} */
export default {
  // This app has its own lockfile inside a repository that has another: say which is the root.
  turbopack: { root: here },
  outputFileTracingRoot: here,
};
