// A WebSocket server written with Node's `ws`, for the lunac and C client tests.
//
// usage: NODE_PATH=build/node/node_modules node ws_server.js MODE [ARG...]
//   echo [N]          echo every message (text or binary) until N connections (default 1)
//                     have closed; prints "close CODE REASON" for each
//   ping              send a ping on connect, print "pong" once answered, then echo
//   close CODE REASON close every connection at once with CODE and REASON
//   deflate OPTIONS   echo, compressing: perMessageDeflate = { threshold: 0, ...OPTIONS }
//                     (OPTIONS is JSON, e.g. '{"serverMaxWindowBits":10}'); prints
//                     "extensions VALUE" (its answer, "none" without one) and, at the close,
//                     "compressed IN OUT": the compressed messages it received and sent
// An upgrade ws refuses (an offer it cannot honour, say) is answered 400 with ws's message,
// printed as "refused MESSAGE", and the peer exits.
// Prints "PORT n" once listening; exits by itself when done, or with status 3 after 30 s.
"use strict";
const { WebSocketServer, PerMessageDeflate } = require("ws");

const [mode, ...args] = process.argv.slice(2);
const say = (...words) => process.stdout.write(words.join(" ") + "\n");
setTimeout(() => { say("peer: gave up after 30 s"); process.exit(3); }, 30000).unref();

// Counts compressed messages: ws inflates and deflates every compressed message (each of its
// frames, the last with fin) through these two methods.
const counts = { in: 0, out: 0 };
const { compress, decompress } = PerMessageDeflate.prototype;
PerMessageDeflate.prototype.decompress = function (data, fin, cb) {
  if (fin) counts.in += 1;
  return decompress.call(this, data, fin, cb);
};
PerMessageDeflate.prototype.compress = function (data, fin, cb) {
  if (fin) counts.out += 1;
  return compress.call(this, data, fin, cb);
};

const options = { host: "127.0.0.1", port: 0, maxPayload: 64 * 1024 * 1024 };
if (mode === "deflate") {
  options.perMessageDeflate = Object.assign({ threshold: 0 }, JSON.parse(args[0] || "{}"));
}
const wss = new WebSocketServer(options);
wss.on("listening", () => say("PORT", wss.address().port));
wss.on("headers", (headers) => {
  if (mode !== "deflate") return;
  const line = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
  say("extensions", line ? line.replace(/^[^:]*:\s*/, "") : "none");
});
wss.on("wsClientError", (err, socket) => {
  say("refused", err.message);
  socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/html\r\n" +
    `Content-Length: ${Buffer.byteLength(err.message)}\r\n\r\n${err.message}`);
  setTimeout(() => process.exit(0), 100);
});
let closed = 0;
const want = mode === "echo" && args[0] ? Number(args[0]) : 1;

wss.on("connection", (ws) => {
  ws.on("close", (code, reason) => {
    if (mode === "deflate") say("compressed", counts.in, counts.out);
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
