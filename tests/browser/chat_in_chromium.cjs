// Headless Chromium opens the chat page that the LuaJIT chat server (examples/chat/server.lua)
// serves itself, first over http:// + ws:// then over https:// + wss://, and checks:
// both pages negotiate subprotocol "chat"; a message typed on one appears on both; a 1 MiB
// ArrayBuffer sent on the "echo" subprotocol comes back byte-identical; when the connection
// drops, the page reconnects and sends what was typed meanwhile; "/bye" makes the server
// close with 4001 "bye", which reaches the page's onclose; the other page sees it leave.
// Names: without one the page shows its name form; joining with it (?name=) the Set-Cookie
// of the 101 answer reaches the browser (context.cookies() and document.cookie), and a later
// visit without ?name= joins under the cookie's name (on_upgrade reads the cookie header);
// a second tab with the same cookie, while the first is open, joins as carol2.
// Origins: both servers run without ORIGINS, so they accept only their own page; a page from
// another origin (a third chat server's) fails to connect (error, then close 1006; the
// browser logs the 403 and the server answers a handshake with that Origin 403), while a
// page of the first server connects to that third server, whose ORIGINS lists it (the
// refusal is the server's, not the browser's).
// usage: node chat_in_chromium.cjs WS_PORT WSS_PORT OPEN_PORT REPO [SCREENSHOT].
// Prints "N passed, M failed".
const http = require("http");
const https = require("https");
const { chromium } = require("playwright-core");

const [ws_port, wss_port, open_port, , shot] = process.argv.slice(2);
let passed = 0, failed = 0;
const check = (name, ok, detail = "") => {
  if (ok) passed++; else { failed++; console.log("FAIL", name, detail); }
};
const wait_for = (page, name, fn, arg) =>
  page.waitForFunction(fn, arg, { timeout: 10000 })
    .then(() => check(name, true), (e) => check(name, false, e.message));
const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"];

// The status a WebSocket handshake with this Origin gets (101 when it opens).
const handshake_status = (scheme, port, origin) => new Promise((resolve) => {
  const req = (scheme === "wss" ? https : http).request({
    host: "127.0.0.1", port, path: "/chat", rejectUnauthorized: false, headers: {
      Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "chat", Origin: origin,
    },
  });
  req.on("upgrade", (res, socket) => { socket.destroy(); resolve(101); });
  req.on("response", (res) => { res.resume(); resolve(res.statusCode); });
  req.on("error", (e) => resolve(e.message));
  req.end();
});

// Opens a WebSocket to `u` inside `page`: { open } or { error, code } once it closes.
const attempt = (page, u) => page.evaluate((u) => new Promise((resolve) => {
  const s = new WebSocket(u, ["chat"]);
  let error = false;
  s.onopen = () => { s.close(); resolve({ open: true }); };
  s.onerror = () => { error = true; };
  s.onclose = (e) => resolve({ open: false, error, code: e.code });
  setTimeout(() => resolve({ timeout: true }), 10000);
}), u);

async function names(browser, t, page_url) {
  const ctx = await browser.newContext();   // its own cookie jar
  try {
    const p = await ctx.newPage();
    await p.goto(page_url);
    check(t("no name yet: the page shows its name form"), await p.isVisible("#who"));
    await p.fill("#who input[name=name]", "carol");
    await Promise.all([p.waitForURL(/\?name=carol$/), p.press("#who input[name=name]", "Enter")]);
    await wait_for(p, t("joined as carol with ?name="),
      () => document.getElementById("status").textContent.startsWith("connected") &&
        document.getElementById("log").textContent.includes("* carol joined"));
    const cookies = await ctx.cookies(page_url);
    const c = cookies.find((k) => k.name === "name");
    check(t("Set-Cookie of the 101 reached the browser"),
          !!c && c.value === "carol" && c.path === "/" && c.sameSite === "Strict", JSON.stringify(cookies));
    check(t("document.cookie has the name"), (await p.evaluate(() => document.cookie)).includes("name=carol"));

    // A second tab sends the same cookie while the first is open: it gets a name of its own.
    const later = await ctx.newPage();
    await later.goto(page_url);
    await wait_for(later, t("a second tab joins by the cookie, under a name of its own"),
      () => document.getElementById("status").textContent.startsWith("connected") &&
        document.getElementById("log").textContent.includes("* carol2 joined") &&
        document.getElementById("me").textContent === "you are carol2");
    const [url, form] = await later.evaluate(() => [room.ws.url, document.getElementById("who").hidden]);
    check(t("that tab's URL has no name and it shows no name form"), !url.includes("name=") && form,
          JSON.stringify([url, form]));
    await p.close();
    await wait_for(later, t("the second tab sees the first leave"),
      () => document.getElementById("log").textContent.includes("* carol left"));
    // With the first tab gone, a later visit joins by the cookie as carol again.
    const again = await ctx.newPage();
    await again.goto(page_url);
    await wait_for(again, t("a later visit joins by the cookie"),
      () => document.getElementById("status").textContent.startsWith("connected") &&
        document.getElementById("log").textContent.includes("* carol joined") &&
        document.getElementById("me").textContent === "you are carol");
  } finally {
    await ctx.close();
  }
}

async function origins(browser, t, scheme, port, page_url) {
  const own = (scheme === "wss" ? "https" : "http") + "://127.0.0.1:" + port;
  const other_origin = "http://127.0.0.1:" + open_port;
  const other = await browser.newPage();
  const logged = [];
  other.on("console", (m) => logged.push(m.text()));
  await other.goto(other_origin + "/");
  const r = await attempt(other, `${scheme}://127.0.0.1:${port}/chat`);
  check(t("a page from another origin fails to connect"), r.open === false && r.error && r.code === 1006,
        JSON.stringify(r));
  check(t("the browser logged the 403"), logged.some((l) => l.includes("403")), JSON.stringify(logged));
  check(t("the server answers that Origin 403"), (await handshake_status(scheme, port, other_origin)) === 403);
  check(t("and its own origin 101"), (await handshake_status(scheme, port, own)) === 101);
  if (scheme === "ws") {
    // An https:// page may not open ws:// (mixed content): only the ws:// run does this.
    const own_page = await browser.newPage();
    await own_page.goto(page_url);
    const ok = await attempt(own_page, `ws://127.0.0.1:${open_port}/chat`);
    check(t("a cross-origin page connects to a server whose ORIGINS lists it"), ok.open === true, JSON.stringify(ok));
    await own_page.close();
  }
  await other.close();
}

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
      const [proto, url] = await p.evaluate(() => [room.protocol, room.ws.url]);
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
    await a.evaluate(() => room.ws.close());
    await a.fill("#text", "typed while away");
    await a.press("#text", "Enter");
    await wait_for(a, t("a reconnects and sends what was typed while disconnected"),
      () => document.getElementById("status").textContent.startsWith("connected") &&
        [...document.querySelectorAll("#log div")].some((d) => /^guest\d+: typed while away$/.test(d.textContent)));
    await wait_for(b, t("b sees what a typed while disconnected"),
      () => document.getElementById("log").textContent.includes(": typed while away"));

    // "/bye" typed on b: the server closes b with 4001 "bye"; b's onclose gets both.
    const closed = b.evaluate(() => new Promise((resolve) => {
      room.ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason, clean: e.wasClean }));
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
    await names(browser, t, page_url);
    await origins(browser, t, scheme, port, page_url);
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
