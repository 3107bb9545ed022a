-- What `luna` (servers) and `lunac` (clients) share: the one mapping of C result codes, the
-- error policy, send and close, config checks, and the event pump behind update / wait / run.
-- An app here is a table with `name`, `debug`, `no_errors`, `error_handler`, `_tag` ("luna"
-- or "lunac") and `_handle`.
local ffi = require("ffi")
local C = require("luna.lib").load()

local ffi_new, ffi_string = ffi.new, ffi.string
local type, tostring, tonumber, error, pcall = type, tostring, tonumber, error, pcall
local pairs, ipairs, setmetatable, unpack = pairs, ipairs, setmetatable, unpack
local floor, min, format, remove = math.floor, math.min, string.format, table.remove
local stderr, stdout = io.stderr, io.stdout
-- Logs go through the global print of the moment: a host (a LÖVE console, a test) may
-- redirect it.
local G = _G

local OK, CLOSED, BACKPRESSURE = C.LUNA_RESULT_OK, C.LUNA_RESULT_CLOSED, C.LUNA_RESULT_BACKPRESSURE
local TIMEOUT, INVALID_ARGUMENT = C.LUNA_RESULT_TIMEOUT, C.LUNA_RESULT_INVALID_ARGUMENT
local INVALID_UTF8, TOO_LARGE = C.LUNA_RESULT_INVALID_UTF8, C.LUNA_RESULT_TOO_LARGE
local EV_OPEN, EV_MESSAGE = C.LUNA_EVENT_KIND_OPEN, C.LUNA_EVENT_KIND_MESSAGE
local EV_CLOSE, EV_ERROR = C.LUNA_EVENT_KIND_CLOSE, C.LUNA_EVENT_KIND_ERROR
local EV_UPGRADE, EV_HTTP = C.LUNA_EVENT_KIND_UPGRADE, C.LUNA_EVENT_KIND_HTTP
local EV_LOG = C.LUNA_EVENT_KIND_LOG
local TEXT, BINARY = tonumber(C.LUNA_OPCODE_TEXT), tonumber(C.LUNA_OPCODE_BINARY)

local EVENTS = 256
-- Batches polled per app per update; later events wait for the next call.
local MAX_ROUNDS = 8
-- How long an update that re-raises a handler error waits for the closes it started.
local SETTLE_ROUNDS, SETTLE_MS = 50, 20

local count_out = ffi_new("size_t[1]")
local published_out = ffi_new("size_t[1]")
-- One event array per nesting level: a callback may remove (and so drain) another app while
-- the batch it belongs to is still being dispatched.
local event_arrays = {}
local depth = 0

local M = {}

-- The header's opcodes (LUNA_OPCODE_*), under the names the original Luna framework used.
M.opcodes = {
  CONTINUATION = tonumber(C.LUNA_OPCODE_CONTINUATION), TEXT = TEXT, BINARY = BINARY,
  CLOSE = tonumber(C.LUNA_OPCODE_CLOSE), PING = tonumber(C.LUNA_OPCODE_PING),
  PONG = tonumber(C.LUNA_OPCODE_PONG),
}
M.version = ffi_string(C.luna_version())
M.has_tls = C.luna_has_tls() ~= 0


function M.last_error()
  return ffi_string(C.luna_last_error())
end


local last_error = M.last_error


-- A value as an error message shows it: `string "abc"`, `number 3`, `nil`.
function M.describe(v)
  if type(v) == "string" then
    return format("string %q", v)
  end
  return type(v) == "nil" and "nil" or type(v) .. " " .. tostring(v)
end


local describe = M.describe


-- Strings without a length cross the C ABI NUL-terminated: a NUL would cut them there.
-- Header lines also end at CR or LF. What is wrong with header `name: value`, or nil.
local TOKEN = "^[%w!#$%%&'*+.^_`|~-]+$"
function M.header_problem(name, value)
  if type(name) ~= "string" or not name:find(TOKEN) then
    return format("header name %s is not a token", describe(name))
  elseif type(value) ~= "string" and type(value) ~= "number" then
    return format("header '%s' must be a string, got %s", name, describe(value))
  elseif tostring(value):find("%z") then
    return format("header '%s' contains a NUL byte", name)
  elseif tostring(value):find("[\r\n]") then
    return format("header '%s' contains a line break (CR or LF)", name)
  end
end


-------------------------------------------------------------------------------
-- The error policy


-- Debug log: one line on stdout, flushed at once (stdout is block-buffered under a pipe).
function M.log(app, msg)
  if app.debug then
    G.print(format("[%s %s] %s", app._tag, app.name, msg))
    stdout:flush()
  end
end


function M.call_error_handler(app, msg)
  local ok, err = pcall(app.error_handler, msg)
  if not ok then
    stderr:write(format("[%s %s] error_handler failed: %s\n", app._tag, app.name, tostring(err)))
  end
end


-- Every error of an app goes to its error_handler, else to stderr.
function M.report(app, msg)
  if app.error_handler then
    M.call_error_handler(app, msg)
  else
    stderr:write(format("[%s %s] %s\n", app._tag, app.name, msg))
  end
end


-- The one mapping of a C result code, the same in luna and lunac. OK: true. CLOSED,
-- BACKPRESSURE: nil, "closed" / "backpressure". INVALID_UTF8 and TOO_LARGE (a payload's
-- content or size): nil, message. INVALID_ARGUMENT is misuse, raised (so is any failure without an app): `level`
-- counts from the caller of `result` (1) up, default 2 (its caller). Anything else is a
-- runtime failure: reported by the app's policy, then nil, message. Callers that may raise
-- do not tail-call it, so the levels stay true.
function M.result(rc, app, who, level)
  if rc == OK then
    return true
  elseif rc == CLOSED then
    return nil, "closed"
  elseif rc == BACKPRESSURE then
    return nil, "backpressure"
  end
  local msg = who .. ": " .. last_error()
  if rc == INVALID_ARGUMENT or not app then
    error(msg, (level or 2) + 1)
  elseif rc ~= INVALID_UTF8 and rc ~= TOO_LARGE then
    M.report(app, msg)
  end
  return nil, msg
end


local result = M.result


-- Result codes in words, for error messages (LUNA_RESULT_* are names for C programmers).
local WORDS = {
  [tonumber(C.LUNA_RESULT_CLOSED)] = "closed",
  [tonumber(C.LUNA_RESULT_INVALID_ARGUMENT)] = "invalid argument",
  [tonumber(C.LUNA_RESULT_BACKPRESSURE)] = "backpressure",
  [tonumber(C.LUNA_RESULT_TLS)] = "TLS failure",
  [tonumber(C.LUNA_RESULT_IO)] = "I/O error",
  [tonumber(C.LUNA_RESULT_TIMEOUT)] = "timeout",
  [tonumber(C.LUNA_RESULT_UNSUPPORTED)] = "not supported by this build",
  [tonumber(C.LUNA_RESULT_INTERNAL)] = "internal error",
  [tonumber(C.LUNA_RESULT_INVALID_UTF8)] = "invalid UTF-8",
  [tonumber(C.LUNA_RESULT_DNS)] = "host not found (DNS)",
  [tonumber(C.LUNA_RESULT_PROTOCOL)] = "protocol error",
  [tonumber(C.LUNA_RESULT_REFUSED)] = "connection refused",
  [tonumber(C.LUNA_RESULT_SUBPROTOCOL)] = "subprotocol not accepted",
  [tonumber(C.LUNA_RESULT_TOO_LARGE)] = "message too large",
}


function M.words(rc)
  return WORDS[tonumber(rc)] or format("error %d", tonumber(rc))
end


-- Whether a failure code means the caller passed something unusable (raised even with
-- no_errors), not that something failed at run time.
function M.is_misuse(rc)
  return rc == INVALID_ARGUMENT or rc == INVALID_UTF8
end


-- A constructor's runtime failure: nil, msg with no_errors (after error_handler), else raised
-- at the caller of the module function (which must not tail-call this).
function M.fail_new(config, msg)
  if config.no_errors then
    if config.error_handler then
      pcall(config.error_handler, msg)
    end
    return nil, msg
  end
  error(msg, 3)
end


-------------------------------------------------------------------------------
-- Send, publish and close. Type errors are raised here; the values themselves are checked by the
-- library (INVALID_ARGUMENT raises through `result`). Called (not tail-called) by the method
-- `who`, they raise at its caller.


-- Misuse of method `who`: raised at the line that called the method. Every entry point
-- (send, publish, broadcast, subscribe, close) reaches it the same way, user code -> the
-- method -> the function that checks -> here, so one level fits them all.
local ARGUMENT_LEVEL = 4
function M.bad_argument(who, what, expected, got)
  error(format("%s: %s must be %s, got %s", who, what, expected, describe(got)), ARGUMENT_LEVEL)
end


local bad_argument = M.bad_argument


-- A message payload as the C ABI takes it (numbers are converted), or nil.
local function payload(data)
  if type(data) == "string" then
    return data
  elseif type(data) == "number" then
    return tostring(data)
  end
end


-- Sends on connection `id` of `app` (whose handle is nil once it is gone).
function M.send(app, id, data, opcode, who)
  local bytes = payload(data)
  if not bytes then
    bad_argument(who, "data", "a string", data)
  end
  data = bytes
  if opcode == nil then
    opcode = TEXT
  elseif type(opcode) ~= "number" then
    bad_argument(who, "opcode", "a number", opcode)
  end
  local handle = app._handle
  if handle == nil then
    return nil, "closed"
  end
  local rc = C.luna_conn_send(handle, id, data, #data, opcode)
  if rc == OK then
    return true
  end
  local ok, err = result(rc, app, who, 3)
  return ok, err
end


-- Publishes to every subscriber of `topic` in `app`, but connection `except` when given;
-- returns how many connections accepted it.
function M.publish(app, except, topic, data, opcode, who)
  if type(topic) ~= "string" then
    bad_argument(who, "topic", "a string", topic)
  end
  local bytes = payload(data)
  if not bytes then
    bad_argument(who, "data", "a string", data)
  end
  data = bytes
  if opcode == nil then
    opcode = TEXT
  elseif type(opcode) ~= "number" then
    bad_argument(who, "opcode", "a number", opcode)
  end
  local handle = app._handle
  if handle == nil or app.removed then
    return nil, "closed"
  end
  local rc
  if except then
    rc = C.luna_conn_publish(handle, except, topic, #topic, data, #data, opcode, published_out)
  else
    rc = C.luna_app_publish(handle, topic, #topic, data, #data, opcode, published_out)
  end
  local ok, err = result(rc, app, who, 3)
  if not ok then
    return nil, err
  end
  return tonumber(published_out[0])
end


-- Starts the closing handshake of connection `id`; a no-op on a closed one.
function M.close(app, id, code, reason, who)
  code = code == nil and 1000 or code
  reason = reason == nil and "" or reason
  if type(code) ~= "number" or code ~= floor(code) then
    bad_argument(who, "code", "an integer", code)
  elseif type(reason) ~= "string" then
    bad_argument(who, "reason", "a string", reason)
  end
  if app._handle == nil then
    return true
  end
  -- Out of uint32_t's range, a code would wrap around to a valid-looking one.
  local wire_code = (code < 0 or code > 0xFFFFFFFF) and 0xFFFFFFFF or code
  local rc = C.luna_conn_close(app._handle, id, wire_code, reason, #reason)
  local ok, err = result(rc, app, who, 3)
  return ok, err
end


-- A wait timeout in seconds (nil = forever) as the C ABI's milliseconds (-1 = forever).
-- Called by Loop:wait, itself called by luna.wait / lunac.wait: errors blame their caller.
function M.timeout_ms(timeout, who)
  if timeout == nil then
    return -1
  elseif type(timeout) ~= "number" or timeout ~= timeout or timeout < 0 then
    error(who .. ": timeout must be a number of seconds >= 0 or nil, got " .. describe(timeout), 4)
  end
  return floor(min(timeout * 1000, 2147483647))
end


-------------------------------------------------------------------------------
-- Config checks: checker(who) gives functions that raise "who: 'key' must be ...".


-- Limits and timers servers and clients both have (docs/reference/lua-server.md, "Limits and defaults").
M.LIMIT_KEYS = { "max_message_size", "max_frame_size", "max_send_queue", "ping_interval",
  "idle_timeout", "close_timeout", "read_buffer_size", "control_frames", "close_on_backpressure",
  "compression", "compression_threshold" }

-- `compression` values as the C ABI numbers them.
local COMPRESSION = { [false] = 0, [true] = 1, shared = 1, dedicated = 2 }


function M.checker(who)
  local c = {}

  function c.bad(key, expected, got)
    error(format("%s: '%s' must be %s, got %s", who, key, expected, describe(got)), 0)
  end

  function c.fail(msg)
    error(format("%s: %s", who, msg), 0)
  end

  function c.known(config, known)
    if type(config) ~= "table" then
      error(who .. ": config must be a table, got " .. describe(config), 0)
    end
    for key in pairs(config) do
      if not known[key] then
        error(format("%s: unknown key '%s'", who, tostring(key)), 0)
      end
    end
  end

  -- A config string that crosses the C ABI NUL-terminated.
  function c.c_string(key, v)
    if type(v) == "string" and v:find("%z") then
      c.bad(key, "a string without NUL bytes", v)
    end
    return v
  end

  function c.opt_type(config, key, t)
    local v = config[key]
    if v ~= nil and type(v) ~= t then
      c.bad(key, "a " .. t, v)
    end
    return v
  end

  function c.integer(config, key, min_value, max_value, default)
    local v = config[key]
    if v == nil then
      return default
    elseif type(v) ~= "number" or v ~= floor(v) or v < min_value or v > max_value then
      c.bad(key, format("an integer %d..%d", min_value, max_value), v)
    end
    return v
  end

  function c.millis(config, key, default)
    local v = config[key]
    if v == nil then
      return default
    elseif type(v) ~= "number" or v ~= v or v < 0 or v * 1000 > 4294967295 then
      c.bad(key, "a number of seconds >= 0", v)
    end
    local ms = floor(v * 1000 + 0.5)
    -- 0 turns a timeout off: a tiny positive value must not do so by rounding.
    if ms == 0 and v > 0 then
      c.bad(key, "0 (off) or at least 0.001 seconds", v)
    end
    return ms
  end

  -- The LIMIT_KEYS of `config` onto a C config struct `cfg`.
  function c.limits(config, cfg)
    local huge = 2 ^ 52
    cfg.max_message_size = c.integer(config, "max_message_size", 0, huge, tonumber(cfg.max_message_size))
    cfg.max_frame_size = c.integer(config, "max_frame_size", 0, huge, tonumber(cfg.max_frame_size))
    cfg.max_send_queue = c.integer(config, "max_send_queue", 0, huge, tonumber(cfg.max_send_queue))
    cfg.ping_interval_ms = c.millis(config, "ping_interval", cfg.ping_interval_ms)
    cfg.idle_timeout_ms = c.millis(config, "idle_timeout", cfg.idle_timeout_ms)
    cfg.close_timeout_ms = c.millis(config, "close_timeout", cfg.close_timeout_ms)
    cfg.read_buffer_size = c.integer(config, "read_buffer_size", 0, 4294967295, cfg.read_buffer_size)
    cfg.control_frames = c.opt_type(config, "control_frames", "boolean") and 1 or 0
    cfg.close_on_backpressure = c.opt_type(config, "close_on_backpressure", "boolean") and 1 or 0
    local compression = config.compression
    if compression ~= nil then
      if COMPRESSION[compression] == nil then
        c.bad("compression", 'false, true, "shared" or "dedicated"', compression)
      end
      cfg.compression = COMPRESSION[compression]
    end
    cfg.compression_threshold = c.integer(config, "compression_threshold", 1, 4294967295,
      cfg.compression_threshold)
  end

  return c
end


-------------------------------------------------------------------------------
-- The loop of one module: its live apps, the event pump, and update / wait / run over them.

local Loop = {}
Loop.__index = Loop


-- `name` prefixes its errors ("luna"); `inside` names what update must not be called from;
-- `on` holds the module's event handlers (open, message, close, error, and upgrade and
-- http for a server: function(app, ev))
-- and `after_poll(app)`, called after each dispatch of an app.
function M.new_loop(name, inside, on)
  return setmetatable({
    name = name, inside = inside, on = on,
    order = {},     -- live apps in creation order
    snapshot = {},  -- a copy of order for update to walk; replaced, never changed
    handles = nil, count = 0, updating = false,
    pending_error = nil, -- first handler error of this update, re-raised at its end
    closing = {},   -- {app, conn} closed by a failing handler: waited for before the re-raise
  }, Loop)
end


function Loop:rebuild()
  self.snapshot = { unpack(self.order) }
  self.count = #self.order
  self.handles = ffi_new("LunaApp*[?]", self.count + 1)
  for i, app in ipairs(self.order) do
    self.handles[i - 1] = app._handle
  end
end


function Loop:add(app)
  self.order[#self.order + 1] = app
  self:rebuild()
end


function Loop:remove(app)
  for i, other in ipairs(self.order) do
    if other == app then
      remove(self.order, i)
      self:rebuild()
      return
    end
  end
end


function Loop:list()
  local list = {}
  for i, app in ipairs(self.order) do list[i] = app end
  return list
end


-- Polls one batch of `app` and hands each event to the module; returns how many it held.
function Loop:poll_once(app)
  local level = depth + 1
  depth = level
  local events = event_arrays[level]
  if not events then
    events = ffi_new("LunaEvent[?]", EVENTS)
    event_arrays[level] = events
  end
  local rc = C.luna_app_poll(app._handle, events, EVENTS, count_out)
  local n = rc == OK and tonumber(count_out[0]) or 0
  local on = self.on
  for i = 0, n - 1 do
    local ev = events[i]
    local kind = ev.kind
    if kind == EV_MESSAGE then
      on.message(app, ev)
    elseif kind == EV_OPEN then
      on.open(app, ev)
    elseif kind == EV_CLOSE then
      on.close(app, ev)
    elseif kind == EV_ERROR then
      on.error(app, ev)
    elseif kind == EV_UPGRADE then
      on.upgrade(app, ev)
    elseif kind == EV_HTTP then
      on.http(app, ev)
    elseif kind == EV_LOG and on.log then
      on.log(app, ev)
    end
  end
  depth = level - 1
  if rc ~= OK then
    result(rc, app, self.name .. ".update: poll")
  end
  return n
end


-- Dispatches what is left of a removed app's events.
function Loop:drain(app)
  for _ = 1, 10000 do
    if self:poll_once(app) == 0 then
      return
    end
  end
end


-- Dispatches what `app` has pending (up to MAX_ROUNDS batches), then writes what the
-- callbacks sent, one write per connection.
function Loop:poll_app(app)
  app._dispatching = true
  for _ = 1, MAX_ROUNDS do
    if self:poll_once(app) < EVENTS or app.removed or app.state == "closed" then
      break
    end
  end
  app._dispatching = false
  if app._handle then
    result(C.luna_app_flush(app._handle), app, self.name .. ".update: flush")
  end
  self.on.after_poll(app)
end


-- Remembers a handler error, to be raised when the current update ends; `conn`, if given,
-- is the connection the failing handler closed.
function Loop:raise_later(msg, app, conn)
  if not self.pending_error then
    self.pending_error = msg
  end
  if conn then
    self.closing[#self.closing + 1] = { app, conn }
  end
end


-- Drops a remembered error outside update (an app removed between updates).
function Loop:forget_error()
  if not self.updating then
    self.pending_error = nil
  end
end


-- Before a handler error is re-raised (which often ends the program), lets the closes the
-- failing handlers started complete, so their peers see the close code.
function Loop:settle()
  local closing = self.closing
  self.closing = {}
  for _, entry in ipairs(closing) do
    local app, conn = entry[1], entry[2]
    for _ = 1, SETTLE_ROUNDS do
      if conn.state == "closed" or not app._handle or app.removed then
        break
      end
      local rc = C.luna_app_wait(app._handle, SETTLE_MS)
      if rc ~= TIMEOUT then
        result(rc, app, self.name .. ".update: wait")
      end
      self:poll_app(app)
    end
  end
end


local function poll_all(loop)
  for _, app in ipairs(loop.snapshot) do
    if not app.removed and app._handle then
      loop:poll_app(app)
    end
  end
  if loop.pending_error then
    loop:settle()
  end
end


-- Errors point at the caller of the module function that called these (level 3).
function Loop:update()
  if self.updating then
    error(format("%s.update: called again from inside %s", self.name, self.inside), 3)
  end
  self.updating, self.pending_error = true, nil
  local ok, err = pcall(poll_all, self)
  self.updating, self.closing = false, {}
  if not ok then
    error(err, 0)
  end
  local raised = self.pending_error
  self.pending_error = nil
  if raised then
    error(raised, 0)
  end
end


function Loop:wait(timeout)
  local ms = M.timeout_ms(timeout, self.name .. ".wait")
  if self.count == 0 and ms < 0 then
    return false -- nothing could ever wake us
  end
  local rc = C.luna_app_wait_any(self.handles, self.count, ms)
  if rc ~= OK and rc ~= TIMEOUT then
    result(rc, nil, self.name .. ".wait", 3)
  end
  self:update()
  return rc == OK
end


local SIGNAL_NAMES = { [2] = "SIGINT", [15] = "SIGTERM" }


local function run_until_signal(loop, catching)
  while #loop.order > 0 do
    -- Without caught signals, a slice lets the interpreter's Ctrl-C handler run now and then.
    loop:wait(not catching and 1 or nil)
    local signal = catching and C.luna_signal_take() or 0
    if signal ~= 0 then
      return signal
    end
  end
end


-- Loops until every app is gone. Where the library catches signals (Unix), SIGINT and
-- SIGTERM end it quietly: with `drain`, `drain(signal)` starts draining every app and the
-- loop goes on until they are gone (a second signal calls `stop()` at once); without it,
-- `stop()` closes every app (1001). run then returns the signal's name. Errors from update
-- pass through, with the signals given back first.
function Loop:run(stop, drain)
  local catching = C.luna_signals_catch(1) == OK
  local ok, name = pcall(function()
    local signal = run_until_signal(self, catching)
    if not signal then
      return nil
    end
    if drain then
      drain(signal)
      if run_until_signal(self, catching) then
        stop()
      end
    else
      stop()
    end
    return SIGNAL_NAMES[signal] or format("signal %d", signal)
  end)
  if catching then
    C.luna_signals_catch(0)
  end
  if not ok then
    error(name, 0)
  end
  return name
end


return M
