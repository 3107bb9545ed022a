// Headless Chromium opens the chat page that the LuaJIT chat server (examples/chat/server.lua)
// serves itself, first over http:// + ws:// then over https:// + wss://, and checks:
// both pages negotiate subprotocol "chat"; a message typed on one appears on both; a 1 MiB
// ArrayBuffer sent on the "echo" subprotocol comes back byte-identical; when the connection
// drops, the page reconnects and sends what was typed meanwhile; "/bye" makes the server
// close with 4001 "bye", which reaches the page's onclose; the other page sees it leave.
// usage: node chat_in_chromium.cjs WS_PORT WSS_PORT REPO [SCREENSHOT]. Prints "N passed, M failed".
const { chromium } = require("playwright-core");

const [ws_port, wss_port, , shot] = process.argv.slice(2);
let passed = 0, failed = 0;
const check = (name, ok, detail = "") => {
  if (ok) passed++; else { failed++; console.log("FAIL", name, detail); }
};
const wait_for = (page, name, fn, arg) =>
  page.waitForFunction(fn, arg, { timeout: 10000 })
    .then(() => check(name, true), (e) => check(name, false, e.message));
const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"];

async function run(scheme, port, extra_args) {
  const t = (name) => `${scheme}: ${name}`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: args.concat(extra_args),
  });
  try {
    const page_url = (scheme === "wss" ? "https" : "http") + "://127.0.0.1:" + port + "/";
    const a = await browser.newPage();
    const b = await browser.newPage();
    for (const p of [a, b]) {
      await p.goto(page_url);
      await p.waitForFunction(() => document.getElementById("status").textContent.startsWith("connected"), null, { timeout: 10000 });
      // `ws` is the page's own socket (a top-level const of its script).
      const [proto, url] = await p.evaluate(() => [ws.protocol, ws.url]);
      check(t("protocol chat negotiated"), proto === "chat", proto);
      check(t(`page connected with ${scheme}://`), url.startsWith(scheme + "://"), url);
    }
    check(t("status shows protocol chat"), (await a.textContent("#status")).includes("protocol chat"));

    await a.fill("#text", "/nick alice");
    await a.press("#text", "Enter");
    await a.fill("#text", "hello from a browser ✓");
    await a.press("#text", "Enter");
    const said = "alice: hello from a browser ✓";
    await wait_for(b, t("b sees a's message"), (s) => document.getElementById("log").textContent.includes(s), said);
    await wait_for(a, t("a sees its own broadcast"), (s) => document.getElementById("log").textContent.includes(s), said);

    // 1 MiB of pseudo-random bytes on the "echo" subprotocol, compared inside the page.
    const echo = await a.evaluate((u) => new Promise((resolve) => {
      const data = new Uint8Array(1 << 20);
      let x = 2463534242;
      for (let i = 0; i < data.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; data[i] = x & 255; }
      const e = new WebSocket(u, ["echo"]);
      e.binaryType = "arraybuffer";
      e.onopen = () => e.send(data.buffer);
      e.onmessage = (m) => {
        const got = m.data instanceof ArrayBuffer ? new Uint8Array(m.data) : null;
        const same = !!got && got.length === data.length && got.every((v, i) => v === data[i]);
        e.close();
        resolve({ protocol: e.protocol, binary: !!got, length: got ? got.length : -1, same });
      };
      e.onclose = (c) => resolve({ closed: c.code });
      setTimeout(() => resolve({ timeout: true }), 20000);
    }), `${scheme}://127.0.0.1:${port}`);
    check(t("echo protocol negotiated"), echo.protocol === "echo", JSON.stringify(echo));
    check(t("1 MiB ArrayBuffer echoed byte-identical"),
          echo.binary && echo.length === 1 << 20 && echo.same, JSON.stringify(echo));

    // The connection drops: what a types meanwhile waits, and is sent once the page has
    // reconnected by itself.
    await a.evaluate(() => ws.close());
    await a.fill("#text", "typed while away");
    await a.press("#text", "Enter");
    await wait_for(a, t("a reconnects and sends what was typed while disconnected"),
      () => document.getElementById("status").textContent.startsWith("connected") &&
        [...document.querySelectorAll("#log div")].some((d) => /^guest\d+: typed while away$/.test(d.textContent)));
    await wait_for(b, t("b sees what a typed while disconnected"),
      () => document.getElementById("log").textContent.includes(": typed while away"));

    // "/bye" typed on b: the server closes b with 4001 "bye"; b's onclose gets both.
    const closed = b.evaluate(() => new Promise((resolve) => {
      ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason, clean: e.wasClean }));
      setTimeout(() => resolve({ timeout: true }), 10000);
    }));
    await b.fill("#text", "/bye");
    await b.press("#text", "Enter");
    const c = await closed;
    check(t("server close 4001 \"bye\" reaches onclose"), c.code === 4001 && c.reason === "bye" && c.clean,
          JSON.stringify(c));
    await wait_for(b, t("b's page shows the close code"), () => document.getElementById("status").textContent.includes("4001"));
    await wait_for(a, t("a sees b leave"), () => document.getElementById("log").textContent.includes(" left"));
    if (shot && scheme === "ws") await a.screenshot({ path: shot });
  } finally {
    await browser.close();
  }
}

(async () => {
  await run("ws", ws_port, []);
  // The wss:// server's certificate is self-signed, made by the test: this Chromium run alone
  // is started with --ignore-certificate-errors so it accepts it (TLS is still negotiated).
  await run("wss", wss_port, ["--ignore-certificate-errors"]);
  console.log(`browser: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log("FAIL", e.message);
  console.log(`browser: ${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
