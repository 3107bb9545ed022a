// Two headless Chromium pages open examples/chat/index.html from disk, connect to the LuaJIT
// chat server (subprotocol "chat") and see each other's messages. Prints "N passed, M failed".
const { chromium } = require("playwright-core");
const { pathToFileURL } = require("node:url");
const path = require("node:path");

const [port, repo, shot] = process.argv.slice(2);
const page_url = pathToFileURL(path.join(repo, "examples/chat/index.html")).href + "?port=" + port;
let passed = 0, failed = 0;
const check = (name, ok, detail = "") => {
  if (ok) passed++; else { failed++; console.log("FAIL", name, detail); }
};

(async () => {
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const a = await browser.newPage();
  const b = await browser.newPage();
  for (const p of [a, b]) {
    await p.goto(page_url);
    await p.waitForFunction(() => document.getElementById("status").textContent.startsWith("connected"), null, { timeout: 10000 });
  }
  check("protocol chat negotiated", (await a.textContent("#status")).includes("protocol chat"));
  await a.fill("#text", "/nick alice");
  await a.press("#text", "Enter");
  await a.fill("#text", "hello from a browser ✓");
  await a.press("#text", "Enter");
  await b.waitForFunction(() => document.getElementById("log").textContent.includes("alice: hello from a browser ✓"), null, { timeout: 10000 })
    .then(() => check("b sees a's message", true), (e) => check("b sees a's message", false, e.message));
  const log_a = await a.textContent("#log");
  check("a sees its own broadcast", log_a.includes("alice: hello from a browser ✓"), log_a);
  await b.close();
  await a.waitForFunction(() => document.getElementById("log").textContent.includes(" left"), null, { timeout: 10000 })
    .then(() => check("a sees b leave", true), (e) => check("a sees b leave", false, e.message));
  if (shot) await a.screenshot({ path: shot });
} finally {
  await browser.close();
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
})().catch((e) => { console.log("FAIL", e.message); console.log("browser: 0 passed, 1 failed"); process.exit(1); });
