-- luna: WebSocket servers for LuaJIT and LÖVE, on top of the C ABI in luna.h.
local ffi = require("ffi")
local lib = require("luna.lib")
local common = require("luna.common")
local C = lib.load()

local ffi_new, ffi_string = ffi.new, ffi.string
local co_create, co_resume, co_yield = coroutine.create, coroutine.resume, coroutine.yield
local co_running, co_status = coroutine.running, coroutine.status
local type, tostring, tonumber, pairs, ipairs, next = type, tostring, tonumber, pairs, ipairs, next
local error, pcall, xpcall, setmetatable, getmetatable = error, pcall, xpcall, setmetatable, getmetatable
local traceback = debug.traceback
local format, sort = string.format, table.sort
local describe, last_error, result = common.describe, common.last_error, common.result
local log, report, call_error_handler = common.log, common.report, common.call_error_handler
local header_problem, bad_argument = common.header_problem, common.bad_argument
local send, close, publish = common.send, common.close, common.publish

local OK = C.LUNA_RESULT_OK
local TIMEOUT, PROTOCOL = C.LUNA_RESULT_TIMEOUT, C.LUNA_RESULT_PROTOCOL
local INVALID = C.LUNA_RESULT_INVALID_ARGUMENT

local TAG = "luna"
local DEFAULT_MAX_QUEUED = 1024
-- Said by a handler error re-raised from luna.update.
local KEEP_SERVING = "no_errors = true in luna.new_web_app keeps the server running"

local port_out = ffi_new("uint16_t[1]")
local fd_out = ffi_new("int64_t[1]")
local tls_out = ffi_new("uint8_t[1]")
local count_out = ffi_new("size_t[1]")
local ip_buf = ffi_new("char[64]")
local request_out = ffi_new("LunaRequest[1]")
local header_out = ffi_new("LunaHeader[1]")
local changed_out = ffi_new("uint8_t[1]")
local drained_out = ffi_new("uint8_t[1]")
local topic_out = ffi_new("const uint8_t*[1]")
local topic_len_out = ffi_new("size_t[1]")

local luna = {}
local opcodes = common.opcodes
luna.opcodes = opcodes
luna.version = common.version
luna.lib_path = lib.path
luna.has_tls = common.has_tls

local apps = {}        -- name -> app, live apps only
local loop             -- common.new_loop, made once the event handlers exist
local RECEIVE = {}     -- what ws:receive() yields; anything else is a misbehaving handler
local current          -- the ws whose handler is running (set around coroutine.resume)

local App, WS, Raw = {}, {}, {}
App.__index, WS.__index, Raw.__index = App, WS, Raw


-- A handler error: with no_errors only reported; else passed to error_handler (if any) and
-- re-raised from luna.update as `raised`, which the host then shows: printed once.
local function handler_error(app, msg, raised, ws)
  if app.no_errors then
    return report(app, msg)
  end
  if app.error_handler then
    call_error_handler(app, msg)
  end
  loop:raise_later(raised or msg, app, ws)
end


-------------------------------------------------------------------------------
-- Raw socket objects (ws.raw_socket)


local function peer_string(ip, port)
  if ip and ip:find(":", 1, true) then
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
  return self._ws._peer_ip, self._ws._peer_port
end


function Raw:getsockname()
  return self._ws._local_ip, self._ws._local_port
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


function WS:getpeername()
  return self._peer_ip, self._peer_port
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
  local count, err = self.app:_broadcast(data, opcode, self.protocol or "", "ws:broadcast")
  return count, err
end


-- Subscribes or unsubscribes (`fn`) ws: true when that changed something, false when not.
local function change_subscription(ws, fn, topic, who)
  if type(topic) ~= "string" then
    bad_argument(who, "topic", "a string", topic)
  end
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
  local head = q.head
  if head <= q.tail then
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
  handler_error(ws.app, msg, raised, ws)
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


local function cache_local_address(ws, app)
  local ok = result(C.luna_conn_local(app._handle, ws.id, ip_buf, 64, port_out), app,
    "luna: local address of " .. tostring(ws))
  if ok then
    ws._local_ip, ws._local_port = ffi_string(ip_buf), port_out[0]
  end
  if result(C.luna_conn_is_tls(app._handle, ws.id, tls_out), app, "luna: TLS state of " .. tostring(ws)) then
    ws.raw_socket.tls = tls_out[0] ~= 0
  end
  -- permessage-deflate: read once, at open (it cannot change).
  if result(C.luna_conn_is_compressed(app._handle, ws.id, tls_out), app,
      "luna: compression of " .. tostring(ws)) then
    ws.compressed = tls_out[0] ~= 0
  end
end


-- Joins a repeated request header as HTTP says (RFC 9110 §5.3; cookies with "; ").
local function add_header(headers, name, value)
  local seen = headers[name]
  if seen == nil then
    headers[name] = value
  else
    headers[name] = seen .. (name == "cookie" and "; " or ", ") .. value
  end
end


-- The handshake request of connection `id` into `into`: method, path, query (raw, "" when
-- none), headers.
local function read_request(into, app, id)
  local who = "luna: request of connection " .. id
  if not result(C.luna_conn_request(app._handle, id, request_out), app, who) then
    return
  end
  local req = request_out[0]
  local target = ffi_string(req.target, req.target_len)
  into.method = ffi_string(req.method, req.method_len)
  into.path, into.query = target:match("^([^?]*)%??(.*)$")
  local headers = {}
  for i = 0, tonumber(req.header_count) - 1 do
    if result(C.luna_conn_header(app._handle, id, i, header_out), app, who) then
      local h = header_out[0]
      add_header(headers, ffi_string(h.name, h.name_len), ffi_string(h.value, h.value_len))
    end
  end
  into.headers = headers
end


local function on_open(app, ev)
  if app.removed then
    return
  end
  local id = tonumber(ev.conn)
  local protocol = ffi_string(ev.data, ev.len)
  local ws = setmetatable({
    id = id, app = app, protocol = protocol ~= "" and protocol or nil, state = "open",
    _peer_ip = ffi_string(ev.peer, ev.peer_len), _peer_port = ev.peer_port,
    _queue = { head = 1, tail = 0 }, _waiting = false,
  }, WS)
  local raw = setmetatable({ _ws = ws, tls = false }, Raw)
  ws.raw_socket, ws.raw_sock = raw, raw
  cache_local_address(ws, app)
  read_request(ws, app, id)
  ws.data = app._upgrade_data[id]
  app._upgrade_data[id] = nil
  app._conns[id] = ws
  log(app, format("open %s protocol %s", tostring(ws), ws.protocol or "(default)"))
  ws._co = co_create(app.protocols[ws.protocol or "default"])
  resume(ws, ws)
end


local function on_message(app, ev)
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
      handler_error(ws.app, msg, format("%s (%s)", msg, KEEP_SERVING))
    end
  end
end


-- The connection is over: forget it, tell on_close and a waiting handler.
local function closed(app, ws, code, reason, was_clean)
  app._conns[ws.id] = nil
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


local function on_close(app, ev)
  local id = tonumber(ev.conn)
  app._upgrade_data[id] = nil
  local ws = app._conns[id]
  if ws then
    closed(app, ws, ev.code, ffi_string(ev.data, ev.len), ev.was_clean ~= 0)
  end
end


-- An access log line: to `access_log(line)` when it is a function, else to stdout.
local function on_log(app, ev)
  local line = ffi_string(ev.data, ev.len)
  local sink = app.access_log
  if type(sink) == "function" then
    local ok, err = pcall(sink, line)
    if not ok then
      report(app, "access_log: " .. tostring(err))
    end
  else
    io.stdout:write(line, "\n")
    io.stdout:flush()
  end
end


local function on_error(app, ev)
  local msg = ffi_string(ev.data, ev.len)
  if ev.code == PROTOCOL or ev.code == TIMEOUT then
    -- Peer misbehaviour and failed upgrades never reach the host outside debug mode.
    if app.debug then
      log(app, msg)
      if app.error_handler then
        call_error_handler(app, msg)
      end
    end
    return
  end
  report(app, format("%s: %s", common.words(ev.code), msg))
end


-- "Name: value" lines for the C call from a table name -> value (or -> list of values):
-- list, count, lines (keep them alive); or nil, nil, what is wrong. The lines cross as C
-- strings, so a NUL or a line break in a value (say from luna.parse_query) is refused, never
-- cut.
local function header_lines(headers)
  if headers == nil then
    return nil, 0
  elseif type(headers) ~= "table" then
    return nil, nil, "headers must be a table, got " .. describe(headers)
  end
  local lines = {}
  for name, value in pairs(headers) do
    local values = type(value) == "table" and value or { value }
    for _, v in ipairs(values) do
      local problem = header_problem(name, v)
      if problem then
        return nil, nil, problem
      end
      lines[#lines + 1] = name .. ": " .. tostring(v)
    end
  end
  local list = ffi_new("const char*[?]", #lines + 1)
  for i, line in ipairs(lines) do list[i - 1] = line end
  return list, #lines, lines
end


-- Refuses a handshake because the hook failed: 500, and the error handled like a handler's.
local function upgrade_failed(app, id, msg)
  local body = "internal error\n"
  C.luna_upgrade_reject(app._handle, id, 500, nil, 0, body, #body)
  handler_error(app, "luna: on_upgrade: " .. msg)
end


-- Carries out what on_upgrade returned: true[, { protocol, headers, data }] or
-- false[, status[, body[, headers]]].
local function answer_upgrade(app, id, req, verdict, a, b, c)
  if verdict == true then
    local opts = type(a) == "table" and a or {}
    local protocol = opts.protocol
    if protocol ~= nil and type(protocol) ~= "string" then
      return upgrade_failed(app, id, "protocol must be a string, got " .. describe(protocol))
    end
    local list, count, anchor = header_lines(opts.headers)
    if not count then
      return upgrade_failed(app, id, anchor)
    end
    local rc = C.luna_upgrade_accept(app._handle, id, protocol, protocol and #protocol or 0, list, count)
    if rc == OK then
      local data = opts.data
      if data == nil then data = req.data end
      app._upgrade_data[id] = data
    elseif rc == INVALID then
      return upgrade_failed(app, id, last_error())
    end
    return anchor
  elseif verdict == false then
    local status = a == nil and 403 or a
    local body = b == nil and "" or tostring(b)
    local list, count, anchor = header_lines(c)
    if type(status) ~= "number" then
      return upgrade_failed(app, id, "a refusal is false, status, body, headers; got status "
        .. describe(status))
    elseif not count then
      return upgrade_failed(app, id, anchor)
    end
    local rc = C.luna_upgrade_reject(app._handle, id, status, list, count, body, #body)
    if rc == INVALID then
      return upgrade_failed(app, id, last_error())
    end
    log(app, format("refused a handshake from %s: %d", req.peer, status))
    return anchor
  end
  upgrade_failed(app, id, "must return true or false, returned " .. describe(verdict))
end


-- UPGRADE: the app's on_upgrade(req) decides the handshake.
local function on_upgrade(app, ev)
  local id = tonumber(ev.conn)
  if app.removed then
    return
  end
  local req = { id = id, peer = ffi_string(ev.peer, ev.peer_len), port = ev.peer_port }
  read_request(req, app, id)
  local results = { xpcall(app.on_upgrade, traceback, req) }
  if not results[1] then
    return upgrade_failed(app, id, tostring(results[2]))
  end
  answer_upgrade(app, id, req, results[2], results[3], results[4], results[5])
end


-- Answers an HTTP event with what the app's http(req) returned: status[, body[, headers]],
-- or nil for 404. A hook that raises or returns something else answers 500 and reports.
local function on_http(app, ev)
  local id = tonumber(ev.conn)
  if app.removed then
    return
  end
  local req = { id = id, peer = ffi_string(ev.peer, ev.peer_len), port = ev.peer_port,
    body = ffi_string(ev.data, ev.len) }
  read_request(req, app, id)
  local ok, status, body, headers = xpcall(app.http, traceback, req)
  local problem
  if not ok then
    problem = tostring(status)
  elseif status == nil then
    status, body = 404, "not found"
  elseif type(status) ~= "number" then
    problem = "must return a status number, got " .. describe(status)
  end
  body = body == nil and "" or tostring(body)
  local list, count, anchor = header_lines(headers)
  if not problem and not count then
    problem = anchor
  end
  if not problem then
    local rc = C.luna_http_respond(app._handle, id, status, list, count, body, #body)
    if rc == INVALID then
      problem = last_error()
    end
  end
  if problem then
    local text = "internal error\n"
    C.luna_http_respond(app._handle, id, 500, nil, 0, text, #text)
    handler_error(app, "luna: http: " .. problem)
  end
  return anchor
end


-- Frees a removed app after dispatching what is left of its events.
local function finish_removal(app)
  loop:drain(app)
  local left = {}
  for _, ws in pairs(app._conns) do left[#left + 1] = ws end
  for _, ws in ipairs(left) do
    closed(app, ws, 1006, "app removed", false)
  end
  local handle = app._handle
  app._handle = nil
  result(C.luna_app_free(handle), app, "luna.remove_web_app: free")
  log(app, "removed")
end


loop = common.new_loop("luna", "a handler or callback", {
  open = on_open, message = on_message, close = on_close, error = on_error, upgrade = on_upgrade,
  http = on_http, log = on_log,
  after_poll = function(app)
    if app.removed then
      finish_removal(app)
    elseif app._draining then
      result(C.luna_app_drained(app._handle, drained_out), app, "app:drain")
      if drained_out[0] == 1 then
        luna.remove_web_app(app)
      end
    end
  end,
})


-------------------------------------------------------------------------------
-- Configuration


local KNOWN = {
  name = true, host = true, port = true, debug = true, no_errors = true, error_handler = true,
  ssl = true, protocols = true, max_connections = true, handshake_timeout = true,
  max_queued_messages = true, origins = true, static = true, max_head_size = true,
  on_upgrade = true, http = true, max_body_size = true, cluster = true,
  max_http_connections = true, max_body_memory = true, reuse_port = true, trusted_proxies = true,
  metrics = true, metrics_token = true, access_log = true, rate_limit = true,
  max_connections_per_ip = true, max_handshake_rate_per_ip = true,
}
for _, key in ipairs(common.LIMIT_KEYS) do KNOWN[key] = true end


local check = common.checker("luna.new_web_app")
local bad, opt_type, integer, millis = check.bad, check.opt_type, check.integer, check.millis
local c_string = check.c_string


-- Types only: the library checks the names themselves (RFC 6455 tokens).
local function check_protocols(protocols)
  if type(protocols) ~= "table" then
    bad("protocols", "a table of subprotocol name -> handler function", protocols)
  end
  local names = {}
  for name, handler in pairs(protocols) do
    if type(name) ~= "string" then
      bad("protocols", "keyed by subprotocol names (strings)", name)
    elseif type(handler) ~= "function" then
      bad("protocols." .. name, "a handler function", handler)
    end
    c_string("protocols", name)
    if name ~= "default" then names[#names + 1] = name end
  end
  if not next(protocols) then
    bad("protocols", "a table with at least one handler", protocols)
  end
  sort(names)
  return names
end


local function check_ssl(ssl)
  if ssl == nil then
    return nil
  elseif type(ssl) ~= "table" then
    bad("ssl", "a table { key = path, cert = path }", ssl)
  end
  if ssl.cert ~= nil and ssl.certificate ~= nil and ssl.cert ~= ssl.certificate then
    bad("ssl.certificate", "the same path as ssl.cert (it is an alias)", ssl.certificate)
  end
  local cert = ssl.cert or ssl.certificate
  if type(ssl.key) ~= "string" or ssl.key == "" then bad("ssl.key", "a file path string", ssl.key) end
  if type(cert) ~= "string" or cert == "" then bad("ssl.cert", "a file path string", cert) end
  if ssl.password ~= nil and type(ssl.password) ~= "string" then
    bad("ssl.password", "a string", ssl.password)
  end
  c_string("ssl.key", ssl.key)
  c_string("ssl.cert", cert)
  c_string("ssl.password", ssl.password)
  return ssl
end


-- rate_limit = { messages = N, bytes = B, per = seconds, burst = N, action = "pause" | "close" }
-- onto the C config.
local RATE_KEYS = { messages = true, bytes = true, per = true, burst = true, action = true }
local function check_rate_limit(limit, cfg)
  if limit == nil then
    return
  elseif type(limit) ~= "table" then
    bad("rate_limit", "a table { messages = N, bytes = B, per = seconds, burst = N, action = \"pause\" | \"close\" }", limit)
  end
  for key in pairs(limit) do
    if not RATE_KEYS[key] then
      bad("rate_limit." .. tostring(key), "absent (known keys: messages, bytes, per, burst, action)", limit[key])
    end
  end
  local function count(key, max)
    local v = limit[key]
    if v ~= nil and (type(v) ~= "number" or v % 1 ~= 0 or v < 1 or v > max) then
      bad("rate_limit." .. key, "an integer 1.." .. max, v)
    end
    return v
  end
  local messages, bytes = count("messages", 4294967295), count("bytes", 2 ^ 52)
  if not messages and not bytes then
    bad("rate_limit", "a table that limits messages, bytes or both", limit)
  end
  cfg.rate_limit_messages, cfg.rate_limit_bytes = messages or 0, bytes or 0
  cfg.rate_limit_burst = count("burst", 4294967295) or 1
  local per = limit.per
  if per ~= nil then
    if type(per) ~= "number" or per ~= per or per < 0.001 or per > 4294967 then
      bad("rate_limit.per", "a number of seconds, at least 0.001", per)
    end
    cfg.rate_limit_per_ms = math.floor(per * 1000 + 0.5)
  end
  local action = limit.action
  if action ~= nil and action ~= "pause" and action ~= "close" then
    bad("rate_limit.action", '"pause" or "close"', action)
  end
  cfg.rate_limit_close = action == "close" and 1 or 0
end


-- A non-empty list of non-empty strings, or nil; `example` shows what one looks like.
local function check_list(list, key, example)
  if list == nil then
    return nil
  elseif type(list) ~= "table" or #list == 0 then
    bad(key, "a non-empty list such as { " .. example .. " }", list)
  end
  for i, item in ipairs(list) do
    if type(item) ~= "string" or item == "" then
      bad(key .. "[" .. i .. "]", "a non-empty string", item)
    end
    c_string(key .. "[" .. i .. "]", item)
  end
  return list
end


local function check_origins(origins)
  return check_list(origins, "origins", '"https://example.com"')
end


-- The list as a C array of strings (nil, 0 for none); the strings stay owned by `list`.
local function c_strings(list)
  if not list then return nil, 0 end
  local array = ffi_new("const char*[?]", #list)
  for i, item in ipairs(list) do array[i - 1] = item end
  return array, #list
end


-- static = "dir" or { root = "dir", index = "index.html", cache = "max-age=60" }: returns
-- root, index, cache.
local function check_static(static)
  if static == nil then
    return nil
  elseif type(static) == "string" and static ~= "" then
    return c_string("static", static), nil, nil
  elseif type(static) ~= "table" then
    bad("static", "a directory path, or a table { root = path, index = file name, cache = Cache-Control }", static)
  end
  if type(static.root) ~= "string" or static.root == "" then
    bad("static.root", "a directory path string", static.root)
  end
  if static.index ~= nil and (type(static.index) ~= "string" or static.index == "") then
    bad("static.index", "a file name string", static.index)
  end
  if static.cache ~= nil and type(static.cache) ~= "string" then
    bad("static.cache", "a Cache-Control value string", static.cache)
  end
  return c_string("static.root", static.root), c_string("static.index", static.index),
    c_string("static.cache", static.cache)
end


-- cluster = { redis = "redis://host:port/db", prefix = "luna:" }: returns url, prefix. The
-- library checks the URL itself.
local function check_cluster(cluster)
  if cluster == nil then
    return nil
  elseif type(cluster) ~= "table" then
    bad("cluster", "a table { redis = \"redis://host:port\", prefix = \"luna:\" }", cluster)
  end
  for key in pairs(cluster) do
    if key ~= "redis" and key ~= "prefix" then
      bad("cluster." .. tostring(key), "absent (known keys: redis, prefix)", cluster[key])
    end
  end
  if type(cluster.redis) ~= "string" or cluster.redis == "" then
    bad("cluster.redis", "a URL string such as \"redis://127.0.0.1:6379\"", cluster.redis)
  end
  if cluster.prefix ~= nil and (type(cluster.prefix) ~= "string" or cluster.prefix == "") then
    bad("cluster.prefix", "a non-empty string such as \"myapp:\"", cluster.prefix)
  end
  return c_string("cluster.redis", cluster.redis), c_string("cluster.prefix", cluster.prefix)
end


local function validate(config)
  check.known(config, KNOWN)
  if type(config.name) ~= "string" or config.name == "" then bad("name", "a non-empty string", config.name) end
  if type(config.host) ~= "string" or config.host == "" then bad("host", "a non-empty string", config.host) end
  c_string("host", config.host)
  integer(config, "port", 0, 65535, nil)
  if config.port == nil then bad("port", "an integer 0..65535", nil) end
  opt_type(config, "debug", "boolean")
  opt_type(config, "no_errors", "boolean")
  opt_type(config, "error_handler", "function")
  opt_type(config, "on_upgrade", "function")
  opt_type(config, "http", "function")
  integer(config, "max_queued_messages", 1, 2 ^ 31, DEFAULT_MAX_QUEUED)
  check_ssl(config.ssl)
  check_origins(config.origins)
  check_static(config.static)
  check_cluster(config.cluster)
  return check_protocols(config.protocols)
end


local function c_config(config, names)
  local cfg = ffi_new("LunaServerConfig")
  result(C.luna_server_config_default(cfg), nil, "luna.new_web_app")
  cfg.host = config.host
  cfg.port = config.port
  cfg.has_default = config.protocols.default and 1 or 0
  local list = ffi_new("const char*[?]", #names + 1)
  for i, name in ipairs(names) do list[i - 1] = name end
  cfg.protocols, cfg.protocol_count = list, #names
  check.limits(config, cfg)
  cfg.max_connections = integer(config, "max_connections", 0, 4294967295, cfg.max_connections)
  cfg.handshake_timeout_ms = millis(config, "handshake_timeout", cfg.handshake_timeout_ms)
  -- A library built without TLS refuses these (LUNA_RESULT_UNSUPPORTED): no silent ws://.
  local ssl = config.ssl
  if ssl then
    cfg.tls_cert_file = ssl.cert or ssl.certificate
    cfg.tls_key_file = ssl.key
    cfg.tls_key_password = ssl.password
  end
  local origins = config.origins
  local origin_list, origin_count = c_strings(origins)
  cfg.origins, cfg.origin_count = origin_list, origin_count
  local proxies = check_list(config.trusted_proxies, "trusted_proxies", '"127.0.0.1", "10.0.0.0/8"')
  local proxy_list, proxy_count = c_strings(proxies)
  cfg.trusted_proxies, cfg.trusted_proxy_count = proxy_list, proxy_count
  local root, index, cache = check_static(config.static)
  cfg.static_root, cfg.static_index, cfg.static_cache_control = root, index, cache
  cfg.max_head_size = integer(config, "max_head_size", 1024, 4294967295, cfg.max_head_size)
  cfg.upgrade_events = config.on_upgrade and 1 or 0
  cfg.http_events = config.http and 1 or 0
  cfg.max_body_size = integer(config, "max_body_size", 0, 2 ^ 31, tonumber(cfg.max_body_size))
  cfg.max_http_connections = integer(config, "max_http_connections", 1, 4294967295,
    cfg.max_http_connections)
  cfg.max_body_memory = integer(config, "max_body_memory", 1, 2 ^ 52, tonumber(cfg.max_body_memory))
  cfg.reuse_port = opt_type(config, "reuse_port", "boolean") and 1 or 0
  opt_type(config, "metrics", "string")
  opt_type(config, "metrics_token", "string")
  if config.metrics_token and not config.metrics then
    bad("metrics_token", "given only with 'metrics' (the path it protects)", config.metrics_token)
  end
  cfg.max_connections_per_ip = integer(config, "max_connections_per_ip", 0, 4294967295, 0)
  cfg.max_handshake_rate_per_ip = integer(config, "max_handshake_rate_per_ip", 0, 4294967295, 0)
  check_rate_limit(config.rate_limit, cfg)
  local access_log = config.access_log
  if access_log ~= nil and type(access_log) ~= "boolean" and type(access_log) ~= "function" then
    bad("access_log", "true, false or a function(line)", access_log)
  end
  cfg.access_log = access_log and 1 or 0
  cfg.metrics_path = c_string("metrics", config.metrics)
  cfg.metrics_token = c_string("metrics_token", config.metrics_token)
  local redis, prefix = check_cluster(config.cluster)
  cfg.cluster_redis, cfg.cluster_prefix = redis, prefix
  -- The strings must outlive luna_server_new: keep them reachable with the struct.
  return cfg, { list, names, config.host, ssl, origins, origin_list, root, index, cache, redis, prefix,
    proxies, proxy_list }
end


local function prepare(config)
  return c_config(config, validate(config))
end


-------------------------------------------------------------------------------
-- Apps


local function make_app(config, handle)
  local app = setmetatable({
    name = config.name, host = config.host, opcodes = opcodes, protocols = config.protocols,
    debug = config.debug or false, no_errors = config.no_errors or false,
    error_handler = config.error_handler, ssl = config.ssl, on_upgrade = config.on_upgrade,
    http = config.http, access_log = config.access_log,
    _upgrade_data = {},
    max_queued_messages = config.max_queued_messages or DEFAULT_MAX_QUEUED,
    _tag = TAG, _handle = handle, _conns = {}, removed = false, _dispatching = false,
  }, App)
  result(C.luna_app_port(handle, port_out), app, "luna.new_web_app: port")
  app.port = port_out[0]
  return app
end


function luna.new_web_app(config)
  local ok, cfg, anchors = pcall(prepare, config)
  if not ok then
    error(cfg, 2)
  end
  if apps[config.name] then
    local msg = format("luna.new_web_app: an app named %q already exists", config.name)
    local none, err = common.fail_new(config, msg)
    return none, err
  end
  local handle = C.luna_server_new(cfg)
  anchors[#anchors + 1] = cfg
  if handle == nil then
    local msg = format("luna.new_web_app: cannot start %q on %s port %d: %s",
      config.name, config.host, config.port, last_error())
    if common.is_misuse(C.luna_last_result()) then
      error(msg, 2)
    end
    local none, err = common.fail_new(config, msg)
    return none, err
  end
  local app = make_app(config, handle)
  apps[app.name] = app
  loop:add(app)
  app.tls = config.ssl ~= nil
  log(app, format("listening on %s port %d (%s)", app.host, app.port, app.tls and "wss://" or "ws://"))
  return app
end


local function resolve(app_or_name)
  if type(app_or_name) == "string" then
    return apps[app_or_name]
  elseif type(app_or_name) == "table" and getmetatable(app_or_name) == App then
    return not app_or_name.removed and app_or_name or nil
  end
  error("luna.remove_web_app: expected an app or its name, got " .. describe(app_or_name), 3)
end


function luna.remove_web_app(app_or_name)
  local app = resolve(app_or_name)
  if not app then
    return nil, "no such app"
  end
  app.removed = true
  apps[app.name] = nil
  loop:remove(app)
  result(C.luna_app_stop(app._handle), app, "luna.remove_web_app: stop")
  if not app._dispatching then
    finish_removal(app)
    loop:forget_error()
  end
  return true
end


function luna.close()
  local list = loop:list()
  for i = #list, 1, -1 do
    luna.remove_web_app(list[i])
  end
end


function App:close()
  return luna.remove_web_app(self)
end


function App:_broadcast(data, opcode, group, who)
  if type(data) ~= "string" and type(data) ~= "number" then
    bad_argument(who, "data", "a string", data)
  elseif opcode ~= nil and type(opcode) ~= "number" then
    bad_argument(who, "opcode", "a number", opcode)
  end
  if self.removed then
    return nil, "closed"
  end
  data = tostring(data)
  local rc = C.luna_app_broadcast(self._handle, data, #data, opcode or opcodes.TEXT, group, count_out)
  local ok, err = result(rc, self, who, 3)
  if not ok then
    return nil, err
  end
  return tonumber(count_out[0])
end


function App:broadcast(data, opcode)
  local count, err = self:_broadcast(data, opcode, nil, "app:broadcast")
  return count, err
end


function App:publish(topic, data, opcode)
  local count, err = publish(self, nil, topic, data, opcode, "app:publish")
  return count, err
end


-- The app's counters as a table (see luna_app_stats); refused handshakes by reason.
local STATS_FIELDS = { "connections_open", "connections_total", "handshakes_accepted",
  "http_requests", "messages_received", "bytes_received", "messages_sent", "bytes_sent",
  "backpressure", "rate_limited", "compression_input_bytes", "compression_output_bytes",
  "cluster_queued_bytes", "cluster_dropped" }
local stats_out = ffi_new("LunaStats[1]")

function App:stats()
  if self.removed then
    return nil, "closed"
  end
  result(C.luna_app_stats(self._handle, stats_out), self, "app:stats", 2)
  local s, stats = stats_out[0], {}
  for _, field in ipairs(STATS_FIELDS) do stats[field] = tonumber(s[field]) end
  stats.handshakes_refused = { origin = tonumber(s.refused_origin),
    capacity = tonumber(s.refused_capacity), subprotocol = tonumber(s.refused_subprotocol),
    host = tonumber(s.refused_host), address = tonumber(s.refused_address),
    handshake = tonumber(s.refused_handshake) }
  stats.cluster_connected = s.cluster_connected ~= 0
  return stats
end


-- app:drain{ timeout = 10, code = 1001, reason = "going away" }: stops listening at once,
-- lets HTTP requests in flight finish, closes every connection after what was queued for it
-- (spread over the timeout), then removes the app. true, or nil, "closed".
function App:drain(opts)
  local who = "app:drain"
  opts = opts or {}
  if type(opts) ~= "table" then
    error(format("%s: expected a table { timeout, code, reason } or nothing, got %s", who, describe(opts)), 2)
  end
  local timeout, code, reason = opts.timeout or 10, opts.code or 1001, opts.reason or "going away"
  if type(timeout) ~= "number" or timeout ~= timeout or timeout < 0 or timeout > 4294967 then
    error(format("%s: 'timeout' must be a number of seconds >= 0, got %s", who, describe(timeout)), 2)
  elseif type(code) ~= "number" or code % 1 ~= 0 or code < 0 or code > 65535 then
    error(format("%s: 'code' must be a close code, got %s", who, describe(code)), 2)
  elseif type(reason) ~= "string" then
    error(format("%s: 'reason' must be a string, got %s", who, describe(reason)), 2)
  end
  if self.removed then
    return nil, "closed"
  end
  local rc = C.luna_app_drain(self._handle, math.floor(timeout * 1000 + 0.5), code, reason, #reason)
  result(rc, self, who, 2)
  self._draining = true
  return true
end


-- app:reload_tls{ cert = path, key = path, password = optional }: new connections get this
-- certificate, open ones keep theirs. true, or nil, err with the old certificate in place.
function App:reload_tls(files)
  local who = "app:reload_tls"
  if type(files) ~= "table" then
    error(format("%s: expected a table { cert = path, key = path }, got %s", who, describe(files)), 2)
  end
  local cert = files.cert or files.certificate
  for _, field in ipairs({ { "cert", cert }, { "key", files.key } }) do
    local key, value = field[1], field[2]
    if type(value) ~= "string" or value == "" then
      error(format("%s: '%s' must be a file path string, got %s", who, key, describe(value)), 2)
    end
  end
  if files.password ~= nil and type(files.password) ~= "string" then
    error(format("%s: 'password' must be a string, got %s", who, describe(files.password)), 2)
  end
  if self.removed then
    return nil, "closed"
  end
  local ok, err = result(C.luna_app_reload_tls(self._handle, cert, files.key, files.password), self,
    who, 2)
  return ok, err
end


function App:clients()
  local list = {}
  for _, ws in pairs(self._conns) do list[#list + 1] = ws end
  sort(list, function(a, b) return a.id < b.id end)
  return list
end


function App:__tostring()
  return format("luna.app(%q, %s port %d)", self.name, self.host, self.port)
end


-------------------------------------------------------------------------------
-- The loop


function luna.update(dt)
  loop:update()
end


function luna.wait(timeout)
  return (loop:wait(timeout))
end


-- How long a signal's drain may take: SIGTERM (a restart, a deploy) spreads the closes over
-- seconds; SIGINT (Ctrl-C at a terminal) ends within one.
local DRAIN_ON_SIGNAL = { [15] = 10, [2] = 1 }

-- Returns nil once every app is removed, or "SIGINT" / "SIGTERM" when one of them ended it:
-- every app was drained (1001 "going away", after what was queued), then removed; a second
-- signal removes them at once.
function luna.run()
  return loop:run(luna.close, function(signal)
    for _, app in pairs(apps) do
      app:drain({ timeout = DRAIN_ON_SIGNAL[signal] or 1 })
    end
  end)
end


function luna.apps()
  return loop:list()
end


local function unescape(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end


-- Decodes a query string ("a=1&b=x%20y"): a table name -> value (the first value of a
-- repeated name), and a list of every { name, value } pair in order.
function luna.parse_query(query)
  if type(query) ~= "string" then
    error("luna.parse_query: expected a string, got " .. describe(query), 2)
  end
  local values, pairs_list = {}, {}
  for part in query:gmatch("[^&;]+") do
    local name, value = part:match("^([^=]*)=?(.*)$")
    name, value = unescape(name), unescape(value)
    pairs_list[#pairs_list + 1] = { name, value }
    if values[name] == nil then values[name] = value end
  end
  return values, pairs_list
end


return luna
