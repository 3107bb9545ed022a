// A WebSocket client written with Node's `ws`, for the luna server tests.
//
// usage: NODE_PATH=build/node/node_modules node ws_client.js URL OPTIONS COUNT
//   Connects with perMessageDeflate = { threshold: 0, ...OPTIONS } (OPTIONS is JSON, e.g.
//   '{"serverMaxWindowBits":10}', or "false" for no compression), sends COUNT JSON texts of
//   about 1.1 KiB then a 1 MiB binary, each echoed before the next is sent, and closes with
//   1000. Prints "extensions VALUE" (the server's answer, "none" without one), then
//   "compressed IN OUT" (compressed messages received and sent) and "ok".
// Exits 1 on a wrong echo or an early close, 3 after 30 s.
"use strict";
const WebSocket = require("ws");
const { PerMessageDeflate } = WebSocket;

const [url, optionsJson, countArg] = process.argv.slice(2);
const say = (...words) => process.stdout.write(words.join(" ") + "\n");
setTimeout(() => { say("peer: gave up after 30 s"); process.exit(3); }, 30000).unref();

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

const parsed = JSON.parse(optionsJson);
const perMessageDeflate = parsed === false ? false : Object.assign({ threshold: 0 }, parsed);
const ws = new WebSocket(url, { perMessageDeflate, maxPayload: 64 * 1024 * 1024 });
ws.binaryType = "nodebuffer";

const messages = [];
for (let i = 0; i < Number(countArg); i++) {
  const players = [];
  for (let k = 0; k < 32; k++) players.push({ id: k, x: (i * 7 + k * 13) % 1000, y: (i * 3 + k * 29) % 1000, hp: 100 - k });
  messages.push(JSON.stringify({ seq: i, players }));
}
const big = Buffer.alloc(1 << 20);
for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 10)) & 255;
messages.push(big);

let next = 0;
const sendNext = () => ws.send(messages[next], { binary: typeof messages[next] !== "string" });
ws.on("upgrade", (res) => say("extensions", res.headers["sec-websocket-extensions"] || "none"));
ws.on("open", sendNext);
ws.on("message", (data, isBinary) => {
  const sent = messages[next];
  const same = typeof sent === "string" ? !isBinary && data.toString() === sent : isBinary && data.equals(sent);
  if (!same) { say("wrong echo of message", next); process.exit(1); }
  next += 1;
  if (next < messages.length) sendNext();
  else ws.close(1000, "done");
});
ws.on("close", (code) => {
  if (next < messages.length) { say("closed early", code, "after", next); process.exit(1); }
  say("compressed", counts.in, counts.out);
  say("ok");
  process.exit(0);
});
ws.on("error", (e) => { say("error", e.message); process.exit(1); });
