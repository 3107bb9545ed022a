// luna.js: a browser WebSocket client that reconnects by itself, for pages served next to a
// luna server (or any WebSocket server). An ES module with no dependencies:
//
//   import { connect } from "./luna.js";
//   const app = connect({ url: "ws://127.0.0.1:8080/", protocol: "chat", reconnect: true,
//     on_connect(app, resumed) {}, on_message(app, data) {}, on_close(app, code, reason) {} });
//   app.send("hello");
//
// The keys and callbacks are those of luna's Lua client (lunac); delays are in seconds.

const DEFAULT_RECONNECT = { min_delay: 0.5, max_delay: 30, max_attempts: Infinity };
const DEFAULT_MAX_SEND_QUEUE = 1 << 20;
const DEFAULT_RESUME_BUFFER = 1 << 20;
// A luna server's close codes for a session it cannot resume: none such, or its ring lost a
// message this client had not had. Either way the next connection starts a new session.
const NO_SESSION = 4404, RING_OVERFLOW = 4413;

// Close codes after which a reconnect could help: the connection broke, or the server is
// going away or restarting. Any other code is the server's decision and ends the client.
const WORTH_RETRYING = new Set([1001, 1005, 1006, 1011, 1012, 1013, 1014]);

function reconnectSettings(option) {
  if (!option) return null;
  if (option === true) return { ...DEFAULT_RECONNECT };
  if (typeof option !== "object") throw new TypeError("luna.js: reconnect must be true or an object");
  const settings = { ...DEFAULT_RECONNECT, ...option };
  for (const key of ["min_delay", "max_delay", "max_attempts"]) {
    if (typeof settings[key] !== "number" || !(settings[key] >= 0)) {
      throw new TypeError(`luna.js: reconnect.${key} must be a number >= 0`);
    }
  }
  if (settings.max_delay < settings.min_delay) {
    throw new RangeError("luna.js: reconnect.max_delay must be >= reconnect.min_delay");
  }
  return settings;
}

function resumeSettings(option, reconnect) {
  if (option === false || (option === undefined && !reconnect)) return null;
  if (!reconnect) throw new TypeError("luna.js: resume needs reconnect");
  if (option === undefined || option === true) return { buffer: DEFAULT_RESUME_BUFFER };
  if (typeof option !== "object" || !(option.buffer >= 1)) {
    throw new TypeError("luna.js: resume must be true, false or { buffer: bytes >= 1 }");
  }
  return { buffer: option.buffer };
}

// A client's side of a resumable session. The exchange: the URL carries luna_resume=NONCE
// (coming back, also luna_session=TOKEN&luna_received=N, the messages had); a luna server
// with resume answers first with the text "luna-session NONCE TOKEN M" (M: the messages it
// had from us), told from the app's messages by the fresh NONCE; we then send again what
// came after our M-th. No message carries anything more: each side counts.
class Session {
  constructor(buffer) {
    this.buffer = buffer;
    this.forget();
    this.nonce = null;
  }

  forget() {
    this.token = null;
    this.received = 0;   // data messages had from the server
    this.sent = 0;       // data messages handed to a connection
    this.ring = [];      // [data, size] of the newest sent, message number first + index
    this.first = 1;
    this.bytes = 0;
  }

  askUrl(url) {
    const words = new Uint32Array(2);
    crypto.getRandomValues(words);
    this.nonce = Array.from(words, (w) => w.toString(16).padStart(8, "0")).join("");
    let ask = `luna_resume=${this.nonce}`;
    if (this.token) ask += `&luna_session=${this.token}&luna_received=${this.received}`;
    return url + (url.includes("?") ? "&" : "?") + ask;
  }

  readAnswer(message) {
    const m = /^luna-session (\S+) (\S+) (\d+)$/.exec(message);
    return m && m[1] === this.nonce ? { token: m[2], had: Number(m[3]) } : null;
  }

  keep(data) {
    const size = sizeOf(data);
    this.sent++;
    this.ring.push([data, size]);
    this.bytes += size;
    while (this.bytes > this.buffer && this.ring.length > 0) {
      this.bytes -= this.ring.shift()[1];
      this.first++;
    }
  }

  // What the server did not have, still kept (a resend is not a new message); null when the
  // ring no longer holds it all.
  unacknowledged(had) {
    if (had > this.sent || had + 1 < this.first) return null;
    const skip = had + 1 - this.first;
    for (const [, size] of this.ring.slice(0, skip)) this.bytes -= size;
    this.ring = this.ring.slice(skip);
    this.first = had + 1;
    return this.ring.map(([data]) => data);
  }
}

function sizeOf(data) {
  if (typeof data === "string") return new TextEncoder().encode(data).length;
  if (data instanceof Blob) return data.size;
  return data.byteLength;
}

class Client {
  constructor(config) {
    if (!config || typeof config.url !== "string") throw new TypeError("luna.js: url is required");
    this.url = config.url;
    this.protocols = config.protocol === undefined ? [] : [].concat(config.protocol);
    this.reconnect = reconnectSettings(config.reconnect);
    const resume = resumeSettings(config.resume, this.reconnect);
    this.session = resume ? new Session(resume.buffer) : null;
    this.resumed = 0;      // how many times the session was resumed
    this.max_send_queue = config.max_send_queue ?? DEFAULT_MAX_SEND_QUEUE;
    this.binary_type = config.binary_type ?? "arraybuffer";
    this.callbacks = {
      on_connect: config.on_connect, on_message: config.on_message,
      on_close: config.on_close, on_error: config.error_handler,
    };
    this.state = "connecting";
    this.protocol = "";
    this.attempts = 0;     // failed attempts since the last open
    this.queue = [];       // sends waiting for a connection
    this.queued = 0;       // their bytes
    this.ws = null;
    this.timer = null;
    this.awaiting = false; // resuming: nothing goes out before the server's answer
    this.restart = false;  // the session is gone: the next attempt starts a new one at once
    this.open();
  }

  // Sends now when open, else queues for the next connection. False when the queue is full
  // or the client is closing or closed.
  send(data) {
    if (this.state === "open" && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(data);
      if (this.session) this.session.keep(data);
      return true;
    }
    if (this.state === "closing" || this.state === "closed") return false;
    const size = sizeOf(data);
    if (this.queued + size > this.max_send_queue) return false;
    this.queue.push(data);
    this.queued += size;
    return true;
  }

  close(code = 1000, reason = "") {
    if (this.state === "closed" || this.state === "closing") return;
    clearTimeout(this.timer);
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
      this.state = "closing";
      this.ws.close(code, reason);
    } else {
      this.finish(code, reason);
    }
  }

  open() {
    let ws;
    try {
      const url = this.session ? this.session.askUrl(this.url) : this.url;
      ws = new WebSocket(url, this.protocols);
    } catch (err) {
      this.report(`luna.js: cannot connect to ${this.url}: ${err.message}`);
      this.finish(1006, err.message);
      return;
    }
    ws.binaryType = this.binary_type;
    ws.onopen = () => this.opened(ws);
    ws.onmessage = (event) => this.message(ws, event.data);
    ws.onclose = (event) => this.dropped(ws, event.code, event.reason);
    this.ws = ws;
  }

  opened(ws) {
    if (ws !== this.ws || this.state === "closing") return;
    // The previous connection dropped before the server said anything (its answer first).
    const unanswered = this.heard === false;
    this.heard = false;
    this.attempts = 0;
    this.protocol = ws.protocol;
    if (this.session && this.session.token) {
      this.awaiting = true;
      return;
    }
    if (this.session) {
      // Sent on a connection that dropped before the server's answer: no session this client
      // can resume holds them, so they go first on this one.
      const orphans = unanswered ? this.session.ring.map(([data]) => data) : [];
      this.session.forget();
      this.queue = orphans.concat(this.queue);
    }
    this.becomeOpen(false);
  }

  becomeOpen(resumed) {
    this.state = "open";
    const waiting = this.queue;
    this.queue = [];
    this.queued = 0;
    for (const data of waiting) this.send(data);
    this.call("on_connect", resumed);
  }

  message(ws, data) {
    if (ws !== this.ws) return;
    this.heard = true;
    const session = this.session;
    if (session && session.nonce !== null && typeof data === "string") {
      const answer = session.readAnswer(data);
      const resuming = this.awaiting;
      session.nonce = null;
      this.awaiting = false;
      if (answer && resuming && answer.token === session.token) return this.resumedWith(ws, answer.had);
      if (answer) { session.token = answer.token; return; }
      if (resuming) { session.forget(); this.becomeOpen(false); }
    }
    if (session) session.received++;
    this.call("on_message", data);
  }

  resumedWith(ws, had) {
    const missed = this.session.unacknowledged(had);
    if (!missed) {
      this.session.forget();
      this.restart = true;
      ws.close(RING_OVERFLOW, "resume buffer overflow");
      return;
    }
    this.resumed++;
    for (const data of missed) ws.send(data);
    this.becomeOpen(true);
  }

  dropped(ws, code, reason) {
    if (ws !== this.ws) return;
    this.awaiting = false;
    if (this.session && this.session.token && (code === NO_SESSION || code === RING_OVERFLOW)) {
      this.session.forget();
      this.restart = true;
    }
    const leaving = this.state === "closing" || this.state === "closed";
    if (this.restart && !leaving) {
      this.restart = false;
      this.attempts = 0;
    } else if (!(this.reconnect && !leaving && WORTH_RETRYING.has(code)
      && this.attempts < this.reconnect.max_attempts)) {
      this.finish(code, reason);
      return;
    }
    this.retry();
  }

  retry() {
    this.state = "reconnecting";
    this.timer = setTimeout(() => this.open(), this.backoff() * 1000);
    this.attempts += 1;
  }

  // Exponential in the attempts made, capped, and jittered over its upper half so that
  // clients cut at once do not all come back at once.
  backoff() {
    const { min_delay, max_delay } = this.reconnect;
    const ceiling = Math.min(max_delay, min_delay * 2 ** Math.min(this.attempts, 30));
    return ceiling / 2 + Math.random() * ceiling / 2;
  }

  finish(code, reason) {
    if (this.state === "closed") return;
    this.state = "closed";
    this.queue = [];
    this.queued = 0;
    this.call("on_close", code, reason);
  }

  call(name, ...args) {
    const fn = this.callbacks[name];
    if (!fn) return;
    try {
      fn(this, ...args);
    } catch (err) {
      this.report(`luna.js: ${name} failed: ${err && err.stack ? err.stack : err}`);
    }
  }

  report(message) {
    if (this.callbacks.on_error) this.callbacks.on_error(message);
    else console.error(message);
  }
}

export function connect(config) {
  return new Client(config);
}
