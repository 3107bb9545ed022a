// Headless Chromium against the LuaJIT echo server (tests/common/luna_echo.lua) with
// compression "shared", "dedicated" and off. Chromium offers "permessage-deflate;
// client_max_window_bits"; the page checks ws.extensions (luna's exact answer, "" when off),
// that 20 texts and 20 ArrayBuffers of about 2 KiB and a 1 MiB text come back identical, and
// what the Lua handler's ws.compressed says (the "compressed" subprotocol answers it).
// usage: node compression_in_chromium.cjs SHARED_PORT DEDICATED_PORT OFF_PORT.
// Prints "N passed, M failed".
const http = require("http");
const { chromium } = require("playwright-core");

const [shared, dedicated, off] = process.argv.slice(2);
let passed = 0, failed = 0;
const check = (name, ok, detail = "") => {
  if (ok) passed++; else { failed++; console.log("FAIL", name, detail); }
};
const args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"];

// Runs in the page: echoes of texts and ArrayBuffers, then ws.compressed from the handler.
const exchange = (port) => new Promise((resolve) => {
  const result = { extensions: null, echoed: 0, wrong: [], compressed: null };
  const sent = [];
  for (let i = 0; i < 20; i++) {
    const players = [];
    for (let k = 0; k < 55; k++) players.push({ id: k, x: (i * 7 + k * 13) % 1000, y: (i * 3 + k * 29) % 1000 });
    sent.push(JSON.stringify({ seq: i, players }));
    const bytes = new Uint8Array(2048);
    for (let j = 0; j < bytes.length; j++) bytes[j] = (j * 7 + i) % 251;
    sent.push(bytes);
  }
  sent.push("x".repeat(512 * 1024) + "é".repeat(256 * 1024));
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  ws.binaryType = "arraybuffer";
  let next = 0;
  ws.onopen = () => { result.extensions = ws.extensions; ws.send(sent[0]); };
  ws.onmessage = (m) => {
    const want = sent[next];
    const same = typeof want === "string" ? m.data === want
      : m.data instanceof ArrayBuffer && new Uint8Array(m.data).every((v, j) => v === want[j]) &&
        m.data.byteLength === want.length;
    if (!same) result.wrong.push(next);
    result.echoed++;
    next++;
    if (next < sent.length) { ws.send(sent[next]); return; }
    ws.close(1000);
    const q = new WebSocket(`ws://127.0.0.1:${port}/`, ["compressed"]);
    q.onopen = () => q.send("?");
    q.onmessage = (a) => { result.compressed = a.data; q.close(); resolve(result); };
    q.onerror = () => resolve(result);
  };
  ws.onclose = (e) => { if (next < sent.length) { result.closed = e.code; resolve(result); } };
  setTimeout(() => resolve(Object.assign(result, { timeout: true })), 20000);
});

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args,
  });
  try {
    // A page of a loopback origin (Chromium keeps other pages, about:blank included, from
    // opening connections to loopback).
    const server = http.createServer((req, res) => res.end("<!doctype html><title>deflate</title>"));
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    server.close();
    const cases = [
      ["shared", shared, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", "true"],
      ["dedicated", dedicated, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12", "true"],
      ["off", off, "", "false"],
    ];
    for (const [name, port, extensions, compressed] of cases) {
      const r = await page.evaluate(exchange, port);
      const detail = JSON.stringify(r);
      check(`${name}: ws.extensions is luna's answer`, r.extensions === extensions, detail);
      check(`${name}: 41 messages echoed identical`, r.echoed === 41 && r.wrong.length === 0, detail);
      check(`${name}: ws.compressed in the handler`, r.compressed === "compressed=" + compressed, detail);
    }
  } finally {
    await browser.close();
  }
  console.log(`browser compression: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log("FAIL", e.message);
  console.log(`browser compression: ${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
