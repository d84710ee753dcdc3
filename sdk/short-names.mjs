// Gives the wasm's imports short names, in the module and in the glue that provides
// them: wasm-bindgen names each one after the JS function and a 16-digit hash
// (`__wbg_addEventListener_847fd86b8c33ec43`), under the module "./rollcall_sdk_bg.js",
// and those hashes do not compress: 60 of them weigh 1.9 KB gzipped, wasm and glue
// together. The exports the glue uses internally (`__wbindgen_malloc`,
// `__externref_table_alloc`, ...: the glue names the allocator at every string it
// passes) get short names too, and exports the glue never names (the addresses of
// wasm-bindgen's abort flags, for a glue that does not read them) are dropped. The
// exports the glue's functions call (`ask`, `poll`, ...) keep their names.
//
//   node sdk/short-names.mjs dist/rollcall_sdk_bg.wasm dist/rollcall_sdk.js
//
// Run by build.sh on the glue as wasm-bindgen wrote it, before it is minified. It fails
// (and so the build) when the glue does not name an import exactly once as it expects.

import { readFileSync, writeFileSync } from "node:fs";
import { importEnd, leb, toLeb } from "./leb.mjs";

const [wasmFile, glueFile] = process.argv.slice(2);
const wasm = readFileSync(wasmFile);
let glue = readFileSync(glueFile, "utf8");

const MODULE = "./rollcall_sdk_bg.js";
const SHORT_MODULE = "a";

const utf8 = (text) => [...toLeb(Buffer.byteLength(text)), ...Buffer.from(text)];

/** a, b, ..., z, A, ..., Z, aa, ab, ...: valid as JS property names without quotes. */
function shortName(i) {
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  let name = "";
  do {
    name = letters[i % letters.length] + name;
    i = Math.floor(i / letters.length) - 1;
  } while (i >= 0);
  return name;
}

const sections = [];
let at = 8;
let renamed = 0;
while (at < wasm.length) {
  const id = wasm[at];
  const [size, body] = leb(wasm, at + 1);
  const end = body + size;
  if (id === 7) {
    sections.push(exportSection(body));
    at = end;
    continue;
  }
  if (id !== 2) {
    sections.push(wasm.subarray(at, end));
    at = end;
    continue;
  }
  let [count, p] = leb(wasm, body);
  const out = [...toLeb(count)];
  for (let i = 0; i < count; i++) {
    const [moduleLen, m] = leb(wasm, p);
    const module = wasm.subarray(m, m + moduleLen).toString();
    const [fieldLen, f] = leb(wasm, m + moduleLen);
    const field = wasm.subarray(f, f + fieldLen).toString();
    const desc = f + fieldLen;
    const next = importEnd(wasm, desc);
    if (module === MODULE) {
      const short = shortName(renamed++);
      const key = new RegExp(`(?<![\\w$])${field}(?![\\w$])`, "g");
      const uses = glue.match(key)?.length ?? 0;
      if (uses !== 1) throw new Error(`short-names: the glue names ${field} ${uses} times, not once`);
      glue = glue.replace(key, short);
      out.push(...utf8(SHORT_MODULE), ...utf8(short));
    } else {
      out.push(...utf8(module), ...utf8(field));
    }
    out.push(...wasm.subarray(desc, next));
    p = next;
  }
  sections.push(Buffer.from([2, ...toLeb(out.length), ...out]));
  at = end;
}

/** The export section whose entries start at `body`, renamed and pruned as said above. */
function exportSection(body) {
  let [count, p] = leb(wasm, body);
  const kept = [];
  let renamedExports = 0;
  for (let i = 0; i < count; i++) {
    const [nameLen, n] = leb(wasm, p);
    const name = wasm.subarray(n, n + nameLen).toString();
    const kind = wasm[n + nameLen];
    const next = leb(wasm, n + nameLen + 1)[1];
    const desc = wasm.subarray(n + nameLen, next);
    p = next;
    const key = new RegExp(`(?<=\\bwasm\\.)${name.replace(/\$/g, "\\$")}(?![\\w$])`, "g");
    const uses = glue.match(key)?.length ?? 0;
    if (uses === 0 && kind === 3) continue; // a global the glue never reads
    if (uses > 0 && name.startsWith("__")) {
      const short = `_${shortName(renamedExports++)}`;
      glue = glue.replace(key, short);
      kept.push([...utf8(short), ...desc]);
    } else {
      kept.push([...utf8(name), ...desc]);
    }
  }
  const out = [...toLeb(kept.length), ...kept.flat()];
  return Buffer.from([7, ...toLeb(out.length), ...out]);
}

const moduleKey = `"${MODULE}": import0`;
if (glue.split(moduleKey).length !== 2) throw new Error(`short-names: the glue has no single ${moduleKey}`);
glue = glue.replace(moduleKey, `${SHORT_MODULE}: import0`);

writeFileSync(wasmFile, Buffer.concat([wasm.subarray(0, 8), ...sections]));
writeFileSync(glueFile, glue);
