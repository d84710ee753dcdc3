// Time from connect() to the first state in headless Chromium: the relay runs in demo
// mode on 127.0.0.1 (pages.mjs), a fresh page imports the SDK, connects, enters and
// subscribes to one channel, and we time
//   connect:      connect() resolved (wasm loaded, socket open, welcome)
//   first state:  the first subscribe() callback that lists this user
// over a few cold pages. Prints one JSON line. Bounded: 60 s in all.
//
//   node bench/sdk/first-state.mjs [relay binary] [runs]

import { median, samplePages } from "./pages.mjs";

const samples = await samplePages((page, i) =>
  page.evaluate(async (user) => {
    const { token } = await (await fetch(`/demo/token?user=${user}&name=${user}`)).json();
    const t0 = performance.now();
    const { connect } = await import("/sdk/rollcall.js");
    const presence = await connect({ url: location.origin, token });
    const connected = performance.now() - t0;
    const channel = presence.channel("/bench/sdk");
    const first = new Promise((resolve) => {
      channel.subscribe((state) => {
        if (state.users?.some((u) => u.id === user)) resolve(performance.now() - t0);
      });
    });
    await channel.enter({});
    const state = await first;
    presence.close();
    return { connect_ms: connected, first_state_ms: state };
  }, `sdk${i}`),
);
console.log(
  JSON.stringify({ runs: samples.length, connect_ms: median(samples, "connect_ms"), first_state_ms: median(samples, "first_state_ms"), samples }),
);
