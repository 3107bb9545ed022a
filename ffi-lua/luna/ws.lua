-- A server's connections: the `ws` object (and its `raw_socket`) and the coroutine that
-- runs its handler.
local ffi = require("ffi")
local C = require("luna.lib").load()
local errors = require("luna.errors")
local outgoing = require("luna.send")
local state = require("luna.server_state")
local read_request = require("luna.request").read

local ffi_new, ffi_string = ffi.new, ffi.string
local co_create, co_resume, co_yield = coroutine.create, coroutine.resume, coroutine.yield
local co_running, co_status = coroutine.running, coroutine.status
local tostring, tonumber, error, setmetatable, xpcall = tostring, tonumber, error, setmetatable, xpcall
local pairs, rawget = pairs, rawget
local traceback = debug.traceback
local format = string.format
local describe, result, log, report = errors.describe, errors.result, errors.log, errors.report
local send, close, publish = outgoing.send, outgoing.close, outgoing.publish
local broadcast, check_topic = outgoing.broadcast, outgoing.check_topic
local loop, KEEP_SERVING = state.loop, state.KEEP_SERVING

local port_out = ffi_new("uint16_t[1]")
local fd_out = ffi_new("int64_t[1]")
local flag_out = ffi_new("uint8_t[1]")
local count_out = ffi_new("size_t[1]")
local ip_buf = ffi_new("char[64]")
local changed_out = ffi_new("uint8_t[1]")
local topic_out = ffi_new("const uint8_t*[1]")
local topic_len_out = ffi_new("size_t[1]")

local OK = C.LUNA_RESULT_OK

local RECEIVE = {}     -- what ws:receive() yields; anything else is a misbehaving handler
local current          -- the ws whose handler is running (set around coroutine.resume)

local WS, Raw = {}, {}
Raw.__index = Raw

local M = {}


-------------------------------------------------------------------------------
-- Raw socket objects (ws.raw_socket)


local function peer_string(ip, port)
  if not ip then
    return "unknown peer"
  elseif ip:find(":", 1, true) then
    return format("[%s]:%d", ip, port)
  end
  return format("%s:%s", tostring(ip), tostring(port))
end


function Raw:getfd()
  local ws = self._ws
  if ws.state == "closed" or not ws.app._handle then
    return nil, "closed"
  end
  local ok, err = result(C.luna_conn_fd(ws.app._handle, ws.id, fd_out), ws.app, "raw_socket:getfd")
  if not ok then
    return nil, err
  end
  return tonumber(fd_out[0])
end


function Raw:getpeername()
  return self._ws:getpeername()
end


function Raw:getsockname()
  local ws = self._ws
  return ws._local_ip or nil, ws._local_port
end


local SETOPTION = { ["tcp-nodelay"] = "luna_conn_set_nodelay", keepalive = "luna_conn_set_keepalive" }


function Raw:setoption(name, value)
  local fn = SETOPTION[name]
  if not fn then
    error(format("raw_socket:setoption: unsupported option %s (use 'tcp-nodelay' or 'keepalive')",
      describe(name)), 2)
  end
  local ws = self._ws
  if ws.state == "closed" or not ws.app._handle then
    return nil, "closed"
  end
  local ok, err = result(C[fn](ws.app._handle, ws.id, value and 1 or 0), ws.app, "raw_socket:setoption")
  return ok, err
end


function Raw:is_tls()
  return self.tls
end


function Raw:__tostring()
  return format("luna.raw_socket#%d(%s)", self._ws.id, peer_string(self._ws._peer_ip, self._ws._peer_port))
end


-------------------------------------------------------------------------------
-- Connections (ws)


function WS:__tostring()
  return format("ws#%d(%s)", self.id, peer_string(self._peer_ip, self._peer_port))
end


-------------------------------------------------------------------------------
-- Fields read on first use: an idle connection holds only what its handler needs (a ws
-- with a few fields, its coroutine), and reads its request, addresses, TLS and compression
-- from the library when asked. The library keeps them until the CLOSE is handled, and
-- `M.closed` reads what was not read yet, so they answer after the close too.

local LAZY = {}

-- Whether `ws` can still be asked (its app is running): reads fail quietly once it is not.
local function askable(ws)
  return ws.app._handle ~= nil
end


function LAZY.method(ws)
  if askable(ws) then
    read_request(ws, ws.app, ws.id)
  end
  if rawget(ws, "headers") == nil then
    ws.headers = {}
  end
end
LAZY.path, LAZY.query, LAZY.headers = LAZY.method, LAZY.method, LAZY.method


-- An address the library answers with `fn` (luna_conn_peer or luna_conn_local): ip, port
-- (false, 0 when it cannot be asked).
local function address(ws, fn)
  if askable(ws) and fn(ws.app._handle, ws.id, ip_buf, 64, port_out) == OK then
    return ffi_string(ip_buf), port_out[0]
  end
  return false, 0
end


function LAZY._peer_ip(ws)
  ws._peer_ip, ws._peer_port = address(ws, C.luna_conn_peer)
end
LAZY._peer_port = LAZY._peer_ip


function LAZY._local_ip(ws)
  ws._local_ip, ws._local_port = address(ws, C.luna_conn_local)
end
LAZY._local_port = LAZY._local_ip


-- A flag the library answers with 0 or 1 (false when it cannot be asked).
local function flag(ws, fn)
  return askable(ws) and fn(ws.app._handle, ws.id, flag_out) == OK and flag_out[0] ~= 0
end


function LAZY.compressed(ws)
  ws.compressed = flag(ws, C.luna_conn_is_compressed)
end


function LAZY.raw_socket(ws)
  local raw = setmetatable({ _ws = ws, tls = flag(ws, C.luna_conn_is_tls) }, Raw)
  ws.raw_socket, ws.raw_sock = raw, raw
end
LAZY.raw_sock = LAZY.raw_socket


function WS.__index(ws, key)
  local method = WS[key]
  if method ~= nil then
    return method
  end
  local load = LAZY[key]
  if load then
    load(ws)
    return rawget(ws, key)
  elseif key == "resumed" then
    return 0
  end
end


-- The names of the fields read on first use (for the reference's check).
M.lazy_fields = { resumed = true }
for key in pairs(LAZY) do
  M.lazy_fields[key] = true
end


-- Reads every field not read yet, while the library still answers (the CLOSE's dispatch).
local function read_the_rest(ws)
  for key, load in pairs(LAZY) do
    if rawget(ws, key) == nil then
      load(ws)
    end
  end
end


function WS:getpeername()
  return self._peer_ip or nil, self._peer_port
end


function WS:send(data, opcode)
  local ok, err = send(self.app, self.id, data, opcode, "ws:send")
  return ok, err
end


function WS:close(code, reason)
  local ok, err = close(self.app, self.id, code, reason, "ws:close")
  if ok and self.state == "open" then
    self.state = "closing"
  end
  return ok, err
end


function WS:broadcast(data, opcode)
  local count, err = broadcast(self.app, data, opcode, self.protocol or "", "ws:broadcast")
  return count, err
end


-- Subscribes or unsubscribes (`fn`) ws: true when that changed something, false when not.
local function change_subscription(ws, fn, topic, who)
  check_topic(topic, who)
  local app = ws.app
  if app._handle == nil then
    return nil, "closed"
  end
  local ok, err = result(fn(app._handle, ws.id, topic, #topic, changed_out), app, who, 3)
  if not ok then
    return nil, err
  end
  return changed_out[0] ~= 0
end


function WS:subscribe(topic)
  local ok, err = change_subscription(self, C.luna_conn_subscribe, topic, "ws:subscribe")
  return ok, err
end


function WS:unsubscribe(topic)
  local ok, err = change_subscription(self, C.luna_conn_unsubscribe, topic, "ws:unsubscribe")
  return ok, err
end


-- The topics of ws, in the order it subscribed.
function WS:subscriptions()
  local app, id = self.app, self.id
  local handle = app._handle
  if handle == nil then
    return nil, "closed"
  end
  local ok, err = result(C.luna_conn_subscription_count(handle, id, count_out), app, "ws:subscriptions")
  if not ok then
    return nil, err
  end
  local list = {}
  for i = 1, tonumber(count_out[0]) do
    ok, err = result(C.luna_conn_subscription(handle, id, i - 1, topic_out, topic_len_out), app,
      "ws:subscriptions")
    if not ok then
      return nil, err
    end
    list[i] = ffi_string(topic_out[0], topic_len_out[0])
  end
  return list
end


function WS:publish(topic, data, opcode)
  local count, err = publish(self.app, self.id, topic, data, opcode, "ws:publish")
  return count, err
end


-- Raises at the caller of ws:receive() unless it runs in the handler of ws.
local function check_receiver(ws)
  local co = co_running()
  if co == ws._co then
    return
  elseif not co then
    error("ws:receive: called outside a coroutine; call it from the connection's handler", 3)
  end
  error(format("ws:receive: called from a coroutine that is not the handler of %s", tostring(ws)), 3)
end


function WS:receive()
  -- `current` spares the handler coroutine.running(), which the JIT does not compile.
  if current ~= self then
    check_receiver(self)
  end
  local q = self._queue
  if q and q.head <= q.tail then
    local head = q.head
    local msg, op = q[head], q[head + 1]
    q[head], q[head + 1] = nil, nil
    q.head = head + 2
    return msg, op
  end
  if self.state == "closed" then
    return nil, nil, self._was_clean, self._close_code, self._close_reason
  end
  self._waiting = true
  return co_yield(RECEIVE)
end


-------------------------------------------------------------------------------
-- Running handlers


-- Starts the closing handshake of ws from the library's side (handler ended or failed).
local function close_ws(ws, code, reason)
  if ws.state == "open" then
    close(ws.app, ws.id, code, reason, "luna: closing " .. tostring(ws))
    ws.state = "closing"
  end
end


local function handler_failed(ws, err)
  close_ws(ws, 1011, "handler error")
  local msg = format("handler of %s failed: %s", tostring(ws), err)
  local raised = format("handler of %s failed (its connection was closed with 1011; %s): %s",
    tostring(ws), KEEP_SERVING, err)
  loop:handler_error(ws.app, msg, raised, ws)
end


-- Resumes the handler of ws with the given values, and deals with how it stopped unless it
-- waits in ws:receive() again.
local function resume(ws, ...)
  local co, outer = ws._co, current
  current = ws
  local ok, what = co_resume(co, ...)
  current = outer
  if ok and what == RECEIVE then
    return
  end
  ws._co, ws._waiting = nil, false
  if not ok then
    handler_failed(ws, traceback(co, tostring(what)))
  elseif co_status(co) == "dead" then
    close_ws(ws, 1000, "")
  else
    handler_failed(ws, traceback(co, "yielded " .. describe(what)
      .. "; a handler may only suspend in ws:receive()"))
  end
end


-- OPEN: a new ws, its handler started in a coroutine.
function M.on_open(app, ev)
  if app.removed then
    return
  end
  local id = tonumber(ev.conn)
  local protocol = ev.len > 0 and ffi_string(ev.data, ev.len) or nil
  -- Few fields, so the table stays small; the rest is read when asked (LAZY above).
  local ws = setmetatable({
    id = id, app = app, protocol = protocol, state = "open", data = app._upgrade_data[id],
    _co = co_create(app.protocols[protocol or "default"]), _waiting = false,
  }, WS)
  app._upgrade_data[id] = nil
  app._conns[id] = ws
  app._open = app._open + 1
  if app.debug then
    log(app, format("open %s protocol %s", tostring(ws), protocol or "(default)"))
  end
  resume(ws, ws)
end


-- RESUME: the client of a session came back (maybe from another address); its handler
-- goes on as if nothing happened.
function M.on_resume(app, ev)
  local ws = app._conns[tonumber(ev.conn)]
  if not ws then
    return
  end
  ws.resumed = ws.resumed + 1
  ws._peer_ip, ws._peer_port = ffi_string(ev.peer, ev.peer_len), ev.peer_port
  log(app, format("resumed %s (%d)", tostring(ws), ws.resumed))
end


-- MESSAGE: to the handler waiting in ws:receive(), else to its queue.
function M.on_message(app, ev)
  local ws = app._conns[tonumber(ev.conn)]
  if not ws or not ws._co then
    return
  end
  if ws._waiting then
    -- A waiting handler has nothing queued: hand it the message directly.
    ws._waiting = false
    return resume(ws, ffi_string(ev.data, ev.len), ev.opcode)
  end
  local q = ws._queue
  if not q then
    q = { head = 1, tail = 0 }
    ws._queue = q
  end
  if (q.tail - q.head + 1) / 2 >= app.max_queued_messages then
    close_ws(ws, 1008, "receive queue full")
    return report(app, format("%s: more than %d messages queued, closed with 1008",
      tostring(ws), app.max_queued_messages))
  end
  q[q.tail + 1], q[q.tail + 2] = ffi_string(ev.data, ev.len), ev.opcode
  q.tail = q.tail + 2
end


local function fire_on_close(ws, code, reason)
  local cb = ws.on_close
  if cb then
    local ok, err = xpcall(function() return cb(ws, code, reason) end, traceback)
    if not ok then
      local msg = format("on_close of %s failed: %s", tostring(ws), tostring(err))
      loop:handler_error(ws.app, msg, format("%s (%s)", msg, KEEP_SERVING))
    end
  end
end


-- The connection is over: forget it, tell on_close and a waiting handler.
function M.closed(app, ws, code, reason, was_clean)
  read_the_rest(ws)
  app._conns[ws.id] = nil
  app._open = app._open - 1
  ws.state = "closed"
  ws._close_code, ws._close_reason, ws._was_clean = code, reason, was_clean
  log(app, format("close %s code %d reason %q%s", tostring(ws), code, reason,
    was_clean and "" or " (not clean)"))
  fire_on_close(ws, code, reason)
  if ws._waiting then
    ws._waiting = false
    resume(ws, nil, nil, was_clean, code, reason)
  end
end


-- CLOSE: the connection is over.
function M.on_close(app, ev)
  local id = tonumber(ev.conn)
  app._upgrade_data[id] = nil
  local ws = app._conns[id]
  if ws then
    M.closed(app, ws, ev.code, ffi_string(ev.data, ev.len), ev.was_clean ~= 0)
  end
end


return M
