// Reading README.md's examples for the tests beside this file.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const root = fileURLToPath(new URL("../../", import.meta.url));
export const read = (path) => readFileSync(join(root, path), "utf8");
export const readme = read("README.md");

/** The fenced block right after an `<!-- example: NAME -->` marker. */
export function example(name) {
  const marker = `<!-- example: ${name} -->`;
  const at = readme.indexOf(marker);
  assert.notEqual(at, -1, `README.md has no ${marker}`);
  const block = readme.slice(at + marker.length).match(/^\s*```\w*\n([\s\S]*?)\n```/);
  assert.ok(block, `no code block right after ${marker}`);
  return block[1];
}

/** Text between `<!-- NAME:start -->` and `<!-- NAME:end -->`. */
export function section(name) {
  const start = readme.indexOf(`<!-- ${name}:start -->`);
  const end = readme.indexOf(`<!-- ${name}:end -->`);
  assert.ok(start !== -1 && end > start, `README.md has no ${name} section`);
  return readme.slice(start, end);
}

/** A scratch directory inside the repository, so modules there find node_modules. */
export function scratch(t) {
  const dir = mkdtempSync(join(root, "target", "readme-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Imports the README's Node token example as a site would, with `secret` as
 * ROLLCALL_SECRET, and returns its `rollcallToken`.
 */
export async function readmeTokenModule(t, secret) {
  const file = join(scratch(t), "rollcall-token.mjs");
  writeFileSync(file, example("node-token"));
  process.env.ROLLCALL_SECRET = secret;
  return (await import(pathToFileURL(file).href)).rollcallToken;
}
