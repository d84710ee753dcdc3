// `webpack` in production mode through its Node API (what webpack-cli runs), and the
// page that loads the bundle.
import { writeFileSync } from "node:fs";
import path from "node:path";
import webpack from "webpack";

const dist = path.resolve("dist");
const config = {
  mode: "production",
  entry: "./src/index.js",
  output: { path: dist, filename: "main.[contenthash].js", clean: true },
};

const stats = await new Promise((resolve, reject) =>
  webpack(config, (error, result) => (error ? reject(error) : resolve(result))),
);
if (stats.hasErrors()) {
  console.error(stats.toString({ all: false, errors: true }));
  process.exit(1);
}
const main = stats.toJson({ assets: true }).assets.find((a) => a.name.startsWith("main.")).name;
writeFileSync(
  path.join(dist, "index.html"),
  `<!doctype html><meta charset="utf-8"><title>rollcall with webpack</title><div id="root"></div><script src="${main}"></script>\n`,
);
console.log(stats.toString({ colors: false, modules: false }));
