// The test site's sign-in, which the README's app/page.js imports: the user named by
// the "user" cookie. app/page.js, app/online.js and lib/rollcall-token.js are the
// README's blocks, written here by bundlers.test.mjs.
import { cookies } from "next/headers";

export async function currentUser() {
  const id = (await cookies()).get("user")?.value ?? "guest";
  return { id, name: `user ${id}` };
}
