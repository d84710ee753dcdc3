// The classic Socket.IO "online users" server, as the tutorials write it, kept as the
// peer rollcall is measured against. A client emits `register` with {id, name, room};
// the server stores the user in that room and tells the room.
//
//   MODE=delta   (default) the newcomer gets the full list ("users"), the rest of the
//                room gets {id, count} ("join"); on unregister or disconnect the room
//                gets "leave".
//   MODE=full    everyone in the room gets the full list again on every change.
//
// Every payload starts with `count` so the load generator reads it without parsing
// the member list. Listens on 127.0.0.1:$PORT (0 = any free port) and prints
// "socketio listening on http://127.0.0.1:PORT" once ready.

import { createServer } from "node:http";
import { Server } from "socket.io";

const mode = process.env.MODE === "full" ? "full" : "delta";
const port = Number(process.env.PORT ?? 0);

const http = createServer();
const io = new Server(http, {
  transports: ["websocket"],
  serveClient: false,
  perMessageDeflate: false,
  maxHttpBufferSize: 64 * 1024,
});

/** room -> Map(user id -> {id, name}) */
const rooms = new Map();

function list(room) {
  return [...(rooms.get(room)?.values() ?? [])];
}

io.on("connection", (socket) => {
  let joined = null;

  function leave() {
    if (!joined) return;
    const { room, id } = joined;
    joined = null;
    socket.leave(room);
    const members = rooms.get(room);
    if (!members || !members.delete(id)) return;
    if (members.size === 0) rooms.delete(room);
    if (mode === "full") {
      io.to(room).emit("users", { count: members.size, users: list(room) });
    } else {
      io.to(room).emit("leave", { count: members.size, id });
    }
  }

  socket.on("register", (user) => {
    if (!user || typeof user.id !== "string" || typeof user.room !== "string") {
      socket.emit("refused", { reason: "register needs {id, room}" });
      return;
    }
    leave();
    const room = user.room;
    let members = rooms.get(room);
    if (!members) rooms.set(room, (members = new Map()));
    members.set(user.id, { id: user.id, name: String(user.name ?? user.id) });
    joined = { room, id: user.id };
    socket.join(room);
    if (mode === "full") {
      io.to(room).emit("users", { count: members.size, users: list(room) });
    } else {
      socket.emit("users", { count: members.size, users: list(room) });
      socket.to(room).emit("join", { count: members.size, id: user.id, name: user.name });
    }
  });

  socket.on("unregister", leave);
  socket.on("disconnect", leave);
});

http.listen(port, "127.0.0.1", () => {
  console.log(`socketio listening on http://127.0.0.1:${http.address().port} (mode: ${mode})`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
