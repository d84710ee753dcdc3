// A page as a Vite user would write it: the SDK imported by its package name, the
// relay's URL and a token given by the page (here in its query string).
import { connect, type ChannelState, type RollcallError } from "rollcall";

const params = new URLSearchParams(location.search);
const who = document.querySelector<HTMLElement>("#who")!;

function render(state: ChannelState, status: string): void {
  who.dataset.status = status;
  who.dataset.count = String(state.count);
  who.dataset.ids = state.users.map((user) => user.id).sort().join(",");
  who.textContent = `${state.count} here: ${state.users.map((user) => user.name ?? user.id).join(", ")}`;
}

async function main(): Promise<void> {
  const presence = await connect({ url: params.get("relay") ?? "", token: params.get("token") ?? "" });
  const channel = presence.channel("/bundlers/vite");
  await channel.enter({ via: "vite" });
  // After `await enter()` the channel's state is in: render it before any change.
  render({ channel: channel.name, count: channel.count, users: channel.users, capped: channel.capped }, "entered");
  channel.subscribe((state) => render(state, presence.status));
}

main().catch((error: RollcallError) => {
  who.dataset.status = "error";
  who.textContent = `${error.code}: ${error.message}`;
});
