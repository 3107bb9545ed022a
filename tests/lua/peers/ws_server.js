// A WebSocket server written with Node's `ws`, for the lunac and C client tests.
//
// usage: NODE_PATH=build/node/node_modules node ws_server.js MODE [ARG...]
//   echo [N]          echo every message (text or binary) until N connections (default 1)
//                     have closed; prints "close CODE REASON" for each
//   ping              send a ping on connect, print "pong" once answered, then echo
//   close CODE REASON close every connection at once with CODE and REASON
// Prints "PORT n" once listening; exits by itself when done, or with status 3 after 30 s.
"use strict";
const { WebSocketServer } = require("ws");

const [mode, ...args] = process.argv.slice(2);
const say = (...words) => process.stdout.write(words.join(" ") + "\n");
setTimeout(() => { say("peer: gave up after 30 s"); process.exit(3); }, 30000).unref();

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: 64 * 1024 * 1024 });
wss.on("listening", () => say("PORT", wss.address().port));
let closed = 0;
const want = mode === "echo" && args[0] ? Number(args[0]) : 1;

wss.on("connection", (ws) => {
  ws.on("close", (code, reason) => {
    say("close", code, reason.toString());
    closed += 1;
    if (closed >= want) wss.close(() => process.exit(0));
  });
  if (mode === "close") {
    ws.close(Number(args[0]), args[1]);
    return;
  }
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  if (mode === "ping") {
    ws.on("pong", (data) => say("pong", data.toString()));
    ws.ping("hello?");
  }
});
