// A Server Component: it signs this user's token on the server and renders the
// provider (a client component) with it. Nothing secret reaches the browser.
import { PresenceProvider } from "@rollcall/react";
import { rollcallToken } from "../lib/token.js";
import Readers from "./readers.js";

export const dynamic = "force-dynamic";

export default async function Page({ searchParams }) {
  // A real site takes the user from its session; this test page from the query string.
  const { user = "guest" } = await searchParams;
  const token = rollcallToken({ id: user, name: `user ${user}` });
  return (
    <main>
      <h1>Readers</h1>
      <PresenceProvider url={process.env.ROLLCALL_URL} token={token}>
        <Readers channel="/bundlers/next" />
      </PresenceProvider>
    </main>
  );
}
