// Time to load the SDK in headless Chromium: a fresh page (pages.mjs) imports the
// package's entry and awaits `preload()` (the wasm fetched, compiled and instantiated),
// served by the relay in demo mode from sdk/dist. No socket is opened: this is the part
// of `connect()` that the package's bytes and its glue decide (bench/sdk/first-state.mjs
// times the whole of it). Prints one JSON line: the median `load_ms` and every sample.
// Bounded: 60 s in all.
//
//   node bench/sdk/load.mjs [relay binary] [runs]

import { median, samplePages } from "./pages.mjs";

const samples = await samplePages((page) =>
  page.evaluate(async () => {
    const t0 = performance.now();
    const { preload } = await import("/sdk/rollcall.js");
    await preload();
    return { load_ms: performance.now() - t0 };
  }),
);
console.log(JSON.stringify({ runs: samples.length, load_ms: median(samples, "load_ms"), samples }));
