// A browser token for rollcall, signed on the server with the relay's secret (HS256).
// Never import this from a client component: the secret must stay on the server.
import { createHmac } from "node:crypto";

const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

export function rollcallToken(user, { secret = process.env.ROLLCALL_SECRET, ttlSeconds = 3600 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub: user.id, name: user.name, iat: now, exp: now + ttlSeconds })}`;
  const signature = createHmac("sha256", secret).update(unsigned).digest("base64url");
  return `${unsigned}.${signature}`;
}
