// Headless Chromium runs js/luna.js (served with a page from a loopback origin) against the
// LuaJIT echo server, through a proxy that cuts connections (see luna_js_reconnects.sh).
// usage: node luna_js_reconnects.cjs PROXY_PORT ECHO_PORT. Prints "N passed, M failed".
const fs = require("fs");
const http = require("http");
const path = require("path");
const { chromium } = require("playwright-core");

const [proxyPort, echoPort, resumePort, deflatePort] = process.argv.slice(2);
let passed = 0, failed = 0;
const check = (name, ok, detail = "") => {
  if (ok) passed++; else { failed++; console.log("FAIL", name, detail); }
};
const args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const lunaJs = fs.readFileSync(path.join(__dirname, "../../js/luna.js"));

// In the page: 300 echoes of 100-byte messages, one in flight at a time, through the cuts.
// A message lost with a cut connection is sent again after the reconnect (without a session
// to resume, what was in flight may be lost: that is the contract). While reconnecting, one
// message is queued per drop; its echo must come after the reconnect.
const throughCuts = (port) => new Promise(async (resolve) => {
  const { connect } = await import("/luna.js");
  const r = { connects: 0, echoed: 0, states: {}, queued: 0, queuedEchoed: 0, closes: [],
              resumedFlags: [] };
  let next = 0, inFlight = null, sawDrop = false;
  const body = "x".repeat(90);
  const sendNext = (app) => {
    if (next >= 300) return;
    inFlight = `m${next} ${body}`;
    app.send(inFlight);
  };
  const app = connect({
    url: `ws://127.0.0.1:${port}/`,
    reconnect: { min_delay: 0.02, max_delay: 0.1 },
    on_connect(app, resumed) {
      r.connects++;
      r.resumedFlags.push(resumed);
      sawDrop = false;
      if (inFlight) app.send(inFlight); else sendNext(app);
    },
    on_message(app, data) {
      if (data.startsWith("q")) { r.queuedEchoed++; return; }
      if (data !== inFlight) return;   // an echo of a message sent again: already counted
      r.echoed++;
      next++;
      inFlight = null;
      if (next < 300) sendNext(app); else finish();
    },
    on_close(app, code) { r.closes.push(code); },
  });
  const poll = setInterval(() => {
    r.states[app.state] = (r.states[app.state] || 0) + 1;
    if (app.state === "reconnecting" && !sawDrop) {
      sawDrop = true;
      if (app.send(`q${r.queued}`)) r.queued++;
    }
  }, 1);
  const finish = () => {
    clearInterval(poll);
    app.close(1000, "done");
    r.stateAfterClose = app.state;
    r.sendAfterClose = app.send("late");
    setTimeout(() => { r.finalState = app.state; resolve(r); }, 500);
  };
  setTimeout(() => { clearInterval(poll); resolve(Object.assign(r, { timeout: true })); }, 60000);
});

// In the page: nothing listens on the port, so every attempt fails; after max_attempts
// retries luna.js gives up with one on_close(1006).
const givesUp = (port) => new Promise(async (resolve) => {
  const { connect } = await import("/luna.js");
  const r = { connects: 0, closes: [] };
  const app = connect({
    url: `ws://127.0.0.1:${port}/`,
    reconnect: { min_delay: 0.01, max_delay: 0.02, max_attempts: 3 },
    on_connect() { r.connects++; },
    on_close(app, code) { r.closes.push(code); },
  });
  r.queuedWhileConnecting = app.send("waiting");
  setTimeout(() => { r.state = app.state; resolve(r); }, 3000);
});

// In the page: the echo server closes with 1009 (a message over its max_message_size): the
// server's decision, so no reconnect.
const serverDecides = (port) => new Promise(async (resolve) => {
  const { connect } = await import("/luna.js");
  const r = { connects: 0, closes: [] };
  const app = connect({
    url: `ws://127.0.0.1:${port}/`,
    reconnect: { min_delay: 0.01, max_delay: 0.02 },
    on_connect(app) { r.connects++; if (r.connects === 1) app.send("y".repeat(10000)); },
    on_close(app, code) { r.closes.push(code); },
  });
  setTimeout(() => { r.state = app.state; resolve(r); }, 1500);
});

// In the page: 10,000 numbered messages to an echo server with resume, through 100 cuts, at
// most 64 in flight; each must come back once, in order (an echo the server never had, or
// one it had twice, would show). Every reconnect must be a resume.
const resumeThroughCuts = (port) => new Promise(async (resolve) => {
  const { connect } = await import("/luna.js");
  const N = 10000, WINDOW = 64;
  const r = { connects: [], next: 1, wrong: [] };
  let sent = 0;
  const topUp = (app) => {
    while (sent < N && sent - (r.next - 1) < WINDOW) app.send(`c${++sent}`);
  };
  const app = connect({
    url: `ws://127.0.0.1:${port}/`,
    reconnect: { min_delay: 0.01, max_delay: 0.05 },
    on_connect(app, resumed) { r.connects.push(resumed); topUp(app); },
    on_message(app, data) {
      if (data !== `c${r.next}` && r.wrong.length < 5) r.wrong.push(`expected c${r.next}, got ${data}`);
      r.next = Number(data.slice(1)) + 1;
      if (r.next > N) { r.resumed = app.resumed; app.close(); resolve(r); } else topUp(app);
    },
  });
  setTimeout(() => resolve(Object.assign(r, { timeout: true, state: app.state })), 60000);
});

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args,
  });
  const server = http.createServer((req, res) => {
    if (req.url === "/luna.js") {
      res.writeHead(200, { "Content-Type": "text/javascript" });
      res.end(lunaJs);
    } else {
      res.end("<!doctype html><title>luna.js</title>");
    }
  });
  try {
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    const page = await browser.newPage();
    page.on("console", (m) => {
      if (!/WebSocket connection to/.test(m.text())) console.log("page:", m.text());
    });
    await page.goto(`http://127.0.0.1:${server.address().port}/`);

    let r = await page.evaluate(throughCuts, proxyPort);
    let detail = JSON.stringify(r);
    check("300 messages echoed through 20 cuts", r.echoed === 300 && !r.timeout, detail);
    check("a reconnect after the cuts", r.connects >= 2, detail);
    check("on_connect says not resumed (no session)", r.resumedFlags.every((f) => f === false), detail);
    check("state was reconnecting between connections", (r.states.reconnecting || 0) > 0, detail);
    check("sends while reconnecting are queued and delivered",
      r.queued > 0 && r.queuedEchoed > 0, detail);
    check("close() ends it: closing, then closed, one on_close(1000)",
      r.stateAfterClose === "closing" && r.finalState === "closed" &&
      JSON.stringify(r.closes) === "[1000]", detail);
    check("send after close() is refused", r.sendAfterClose === false, detail);

    const closed = http.createServer();
    await new Promise((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const unusedPort = closed.address().port;
    closed.close();
    r = await page.evaluate(givesUp, unusedPort);
    detail = JSON.stringify(r);
    check("max_attempts: gives up with one on_close(1006)",
      r.connects === 0 && JSON.stringify(r.closes) === "[1006]" && r.state === "closed", detail);
    check("send while connecting is queued", r.queuedWhileConnecting === true, detail);

    r = await page.evaluate(serverDecides, echoPort);
    detail = JSON.stringify(r);
    check("a close the server meant (1009) is not retried",
      r.connects === 1 && JSON.stringify(r.closes) === "[1009]" && r.state === "closed", detail);

    for (const [name, port] of [["plain", resumePort], ["compressed", deflatePort]]) {
      r = await page.evaluate(resumeThroughCuts, port);
      detail = JSON.stringify({ ...r, connects: r.connects.length });
      check(`resume (${name}): 10,000 echoes once each, in order`,
        !r.timeout && r.next === 10001 && r.wrong.length === 0, detail);
      // A connection cut before the server's answer arrived has no session to resume: the
      // next one starts anew and sends again what went out on it (the echoes above prove
      // nothing was lost). Every other reconnect resumes.
      const resumes = r.connects.filter((x) => x === true).length;
      check(`resume (${name}): the first connect is new, the reconnects resumed`,
        r.connects[0] === false && r.connects.length > 1 && resumes > 0, detail);
      check(`resume (${name}): client.resumed counts them`, r.resumed === resumes, detail);
    }
  } finally {
    server.close();
    await browser.close();
  }
  console.log(`luna.js reconnects: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})().catch((err) => { console.log("FAIL", err); process.exit(1); });
