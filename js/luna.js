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
    this.open();
  }

  // Sends now when open, else queues for the next connection. False when the queue is full
  // or the client is closing or closed.
  send(data) {
    if (this.state === "open" && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(data);
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
      ws = new WebSocket(this.url, this.protocols);
    } catch (err) {
      this.report(`luna.js: cannot connect to ${this.url}: ${err.message}`);
      this.finish(1006, err.message);
      return;
    }
    ws.binaryType = this.binary_type;
    ws.onopen = () => this.opened(ws);
    ws.onmessage = (event) => this.call("on_message", event.data);
    ws.onclose = (event) => this.dropped(ws, event.code, event.reason);
    this.ws = ws;
  }

  opened(ws) {
    this.attempts = 0;
    this.state = "open";
    this.protocol = ws.protocol;
    const waiting = this.queue;
    this.queue = [];
    this.queued = 0;
    for (const data of waiting) ws.send(data);
    this.call("on_connect", false);
  }

  dropped(ws, code, reason) {
    if (ws !== this.ws) return;
    const retry = this.reconnect && this.state !== "closing" && WORTH_RETRYING.has(code)
      && this.attempts < this.reconnect.max_attempts;
    if (!retry) {
      this.finish(code, reason);
      return;
    }
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
