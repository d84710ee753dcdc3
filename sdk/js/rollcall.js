// rollcall: who is here right now. The entry of the npm package `rollcall`.
//
// An ES module that works straight in a browser (no bundler) and under bundlers: the
// wasm-bindgen glue finds the .wasm beside it with `new URL(..., import.meta.url)`.
import init, { connect as connectTab } from "./rollcall_sdk.js";

let loading;

/** Load the WebAssembly once per page; a failed load is retried by the next call. */
function load() {
  loading ??= init().catch((cause) => {
    loading = undefined;
    const error = new Error(
      "The rollcall WebAssembly module could not be loaded; check that rollcall_sdk_bg.wasm is served beside rollcall.js with the type application/wasm.",
      { cause },
    );
    error.name = "RollcallError";
    error.code = "wasm_unavailable";
    throw error;
  });
  return loading;
}

/**
 * Connect this tab to a relay. Resolves once this tab knows whether it holds the
 * browser's connection; `presence.ready` settles with the relay's welcome.
 * @param {import("./rollcall.js").ConnectOptions} options
 */
export async function connect(options) {
  await load();
  return connectTab(options);
}
