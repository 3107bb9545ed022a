-- luna: WebSocket servers for LuaJIT and LÖVE (SPEC §4), on top of the C ABI in luna.h.
local ffi = require("ffi")
local lib = require("luna.lib")
local common = require("luna.common")
local C = lib.load()

local ffi_new, ffi_string = ffi.new, ffi.string
local co_create, co_resume, co_yield = coroutine.create, coroutine.resume, coroutine.yield
local co_running, co_status = coroutine.running, coroutine.status
local type, tostring, tonumber, pairs, ipairs = type, tostring, tonumber, pairs, ipairs
local format, sort = string.format, table.sort

local OK, CLOSED = C.LUNA_RESULT_OK, C.LUNA_RESULT_CLOSED
local TIMEOUT = C.LUNA_RESULT_TIMEOUT
local PROTOCOL = C.LUNA_RESULT_PROTOCOL
local EV_OPEN, EV_MESSAGE = C.LUNA_EVENT_KIND_OPEN, C.LUNA_EVENT_KIND_MESSAGE
local EV_CLOSE, EV_ERROR = C.LUNA_EVENT_KIND_CLOSE, C.LUNA_EVENT_KIND_ERROR

local EVENTS = 256
-- Batches polled per app per update; later events wait for the next call.
local MAX_ROUNDS = 8
local DEFAULT_MAX_QUEUED = 1024

local events = ffi_new("LunaEvent[?]", EVENTS)
local count_out = ffi_new("size_t[1]")
local port_out = ffi_new("uint16_t[1]")
local fd_out = ffi_new("int64_t[1]")
local tls_out = ffi_new("uint8_t[1]")
local ip_buf = ffi_new("char[64]")

local luna = {}
local opcodes = common.opcodes
luna.opcodes = opcodes
luna.version = ffi_string(C.luna_version())
luna.lib_path = lib.path
luna.has_tls = C.luna_has_tls() ~= 0

local apps = {}        -- name -> app, live apps only
local loop = common.new_loop("luna", "a handler or callback")
local RECEIVE = {}     -- what ws:receive() yields; anything else is a misbehaving handler
local current          -- the ws whose handler is running (set around coroutine.resume)

local App, WS, Raw = {}, {}, {}
App.__index, WS.__index, Raw.__index = App, WS, Raw


local last_error, describe = common.last_error, common.describe


local function log(app, msg)
  common.log("luna", app, msg)
end


local function call_error_handler(app, msg)
  common.call_error_handler("luna", app, msg)
end


-- Every error of an app goes to its error_handler, else to stderr.
local function report(app, msg)
  common.report("luna", app, msg)
end


-- A handler error: reported, and re-raised from luna.update unless no_errors.
local function handler_error(app, msg)
  report(app, msg)
  if not app.no_errors then
    loop:raise_later(msg)
  end
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
  if ws.state == "closed" then
    return nil, "closed"
  end
  if C.luna_conn_fd(ws.app._handle, ws.id, fd_out) ~= OK then
    return nil, last_error()
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
  if ws.state == "closed" then
    return nil, "closed"
  end
  if C[fn](ws.app._handle, ws.id, value and 1 or 0) ~= OK then
    return nil, last_error()
  end
  return true
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


local send_result, payload, opcode_arg = common.send_result, common.payload, common.opcode_arg
local sendable_opcode, data_opcode = common.sendable_opcode, common.data_opcode


function WS:send(data, opcode)
  -- Fast path: the checks below would all pass.
  if type(data) == "string" and data_opcode(opcode) and self.state ~= "closed" then
    local rc = C.luna_conn_send(self.app._handle, self.id, data, #data, opcode or 1)
    if rc == OK then
      return true
    end
    return send_result(rc)
  end
  data = payload(data, "ws:send")
  opcode = opcode_arg(opcode, "ws:send")
  if self.state == "closed" then
    return nil, "closed"
  end
  local ok, err = sendable_opcode(opcode)
  if not ok then
    return nil, err
  end
  return send_result(C.luna_conn_send(self.app._handle, self.id, data, #data, opcode))
end


function WS:close(code, reason)
  code, reason = common.close_args(code, reason, "ws:close")
  if self.state ~= "open" then
    return true
  end
  local rc = C.luna_conn_close(self.app._handle, self.id, code, reason, #reason)
  if rc ~= OK and rc ~= CLOSED then
    error("ws:close: " .. last_error(), 2)
  end
  self.state = "closing"
  return true
end


function WS:broadcast(data, opcode)
  return self.app:_broadcast(data, opcode, self.protocol or "", "ws:broadcast")
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


local function handler_failed(ws, err)
  local app = ws.app
  if ws.state == "open" then
    C.luna_conn_close(app._handle, ws.id, 1011, "handler error", 13)
    ws.state = "closing"
  end
  handler_error(app, format("handler of %s failed: %s", tostring(ws), err))
end


-- Deals with how the handler of ws stopped, unless it waits in ws:receive().
local function resumed(ws, co, ok, what)
  if not ok then
    ws._co = nil
    return handler_failed(ws, debug.traceback(co, tostring(what)))
  end
  if co_status(co) == "dead" then
    ws._co = nil
    if ws.state == "open" then
      C.luna_conn_close(ws.app._handle, ws.id, 1000, nil, 0)
      ws.state = "closing"
    end
  elseif what ~= RECEIVE then
    ws._co, ws._waiting = nil, false
    handler_failed(ws, debug.traceback(co, "yielded " .. describe(what)
      .. "; a handler may only suspend in ws:receive()"))
  end
end


-- Resumes the handler of ws with the given values.
local function resume(ws, ...)
  local co, outer = ws._co, current
  current = ws
  local ok, what = co_resume(co, ...)
  current = outer
  if what ~= RECEIVE or not ok then
    resumed(ws, co, ok, what)
  end
end


-- Resumes the handler of ws, which waits in ws:receive(), with a message.
local function deliver(ws, msg, op)
  local co, outer = ws._co, current
  current = ws
  local ok, what = co_resume(co, msg, op)
  current = outer
  if what ~= RECEIVE or not ok then
    resumed(ws, co, ok, what)
  end
end


local function cache_local_address(ws, app)
  if C.luna_conn_local(app._handle, ws.id, ip_buf, 64, port_out) == OK then
    ws._local_ip, ws._local_port = ffi_string(ip_buf), port_out[0]
  end
  if C.luna_conn_is_tls(app._handle, ws.id, tls_out) == OK then
    ws.raw_socket.tls = tls_out[0] ~= 0
  end
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
    return deliver(ws, ffi_string(ev.data, ev.len), ev.opcode)
  end
  local q = ws._queue
  if (q.tail - q.head + 1) / 2 >= app.max_queued_messages then
    C.luna_conn_close(app._handle, ws.id, 1008, "receive queue full", 18)
    ws.state = "closing"
    return report(app, format("%s: more than %d messages queued, closed with 1008",
      tostring(ws), app.max_queued_messages))
  end
  q[q.tail + 1], q[q.tail + 2] = ffi_string(ev.data, ev.len), ev.opcode
  q.tail = q.tail + 2
end


local function fire_on_close(ws, code, reason)
  local cb = ws.on_close
  if cb then
    local ok, err = xpcall(function() return cb(ws, code, reason) end, debug.traceback)
    if not ok then
      handler_error(ws.app, format("on_close of %s failed: %s", tostring(ws), tostring(err)))
    end
  end
end


local function close_ws(app, ws, code, reason, was_clean)
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
  local ws = app._conns[tonumber(ev.conn)]
  if ws then
    close_ws(app, ws, ev.code, ffi_string(ev.data, ev.len), ev.was_clean ~= 0)
  end
end


local function on_error(app, ev)
  local msg = ffi_string(ev.data, ev.len)
  if ev.code == PROTOCOL or ev.code == TIMEOUT then
    -- Peer misbehaviour and failed handshakes never reach the host outside debug mode.
    if app.debug then
      log(app, msg)
      if app.error_handler then
        call_error_handler(app, msg)
      end
    end
    return
  end
  report(app, format("%s: %s", ffi_string(C.luna_result_name(ev.code)), msg))
end


-- Polls one batch of app and dispatches it; returns how many events it held.
local function poll_once(app)
  if C.luna_app_poll(app._handle, events, EVENTS, count_out) ~= OK then
    report(app, "poll failed: " .. last_error())
    return 0
  end
  local n = tonumber(count_out[0])
  for i = 0, n - 1 do
    local ev = events[i]
    local kind = ev.kind
    if kind == EV_MESSAGE then
      on_message(app, ev)
    elseif kind == EV_OPEN then
      on_open(app, ev)
    elseif kind == EV_CLOSE then
      on_close(app, ev)
    elseif kind == EV_ERROR then
      on_error(app, ev)
    end
  end
  return n
end


-- Frees a removed app after dispatching what is left of its events.
local function finish_removal(app)
  for _ = 1, 10000 do
    if poll_once(app) == 0 then
      break
    end
  end
  local left = {}
  for _, ws in pairs(app._conns) do left[#left + 1] = ws end
  for _, ws in ipairs(left) do
    close_ws(app, ws, 1006, "app removed", false)
  end
  C.luna_app_free(app._handle)
  app._handle = nil
  log(app, "removed")
end


local function poll_app(app)
  app._dispatching = true
  for _ = 1, MAX_ROUNDS do
    if poll_once(app) < EVENTS or app.removed then
      break
    end
  end
  app._dispatching = false
  -- What the handlers sent goes out now, one write per connection.
  if app._handle then C.luna_app_flush(app._handle) end
  if app.removed then
    finish_removal(app)
  end
end


-------------------------------------------------------------------------------
-- Configuration


local KNOWN = {
  name = true, host = true, port = true, debug = true, no_errors = true, error_handler = true,
  ssl = true, protocols = true, max_message_size = true, max_frame_size = true,
  max_connections = true, handshake_timeout = true, ping_interval = true, idle_timeout = true,
  max_send_queue = true, control_frames = true, max_queued_messages = true,
  close_on_backpressure = true,
}


local check = common.checker("luna.new_web_app")
local bad, opt_type, integer, millis = check.bad, check.opt_type, check.integer, check.millis


local function check_protocols(protocols)
  if type(protocols) ~= "table" then
    bad("protocols", "a table of subprotocol name -> handler function", protocols)
  end
  local names = {}
  for name, handler in pairs(protocols) do
    if type(name) ~= "string" or name == "" or name:find("[%s,;\"]") then
      bad("protocols", "keyed by subprotocol names (non-empty, no spaces or commas)", name)
    elseif type(handler) ~= "function" then
      bad("protocols." .. name, "a handler function", handler)
    end
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
  return ssl
end


local function validate(config)
  check.known(config, KNOWN)
  if type(config.name) ~= "string" or config.name == "" then bad("name", "a non-empty string", config.name) end
  if type(config.host) ~= "string" or config.host == "" then bad("host", "a non-empty string", config.host) end
  integer(config, "port", 0, 65535, nil)
  if config.port == nil then bad("port", "an integer 0..65535", nil) end
  opt_type(config, "debug", "boolean")
  opt_type(config, "no_errors", "boolean")
  opt_type(config, "control_frames", "boolean")
  opt_type(config, "close_on_backpressure", "boolean")
  opt_type(config, "error_handler", "function")
  integer(config, "max_queued_messages", 1, 2 ^ 31, DEFAULT_MAX_QUEUED)
  check_ssl(config.ssl)
  return check_protocols(config.protocols)
end


local function c_config(config, names)
  local cfg = ffi_new("LunaServerConfig")
  C.luna_server_config_default(cfg)
  cfg.host = config.host
  cfg.port = config.port
  cfg.has_default = config.protocols.default and 1 or 0
  local list = ffi_new("const char*[?]", #names + 1)
  for i, name in ipairs(names) do list[i - 1] = name end
  cfg.protocols, cfg.protocol_count = list, #names
  check.limits(config, cfg)
  cfg.max_connections = integer(config, "max_connections", 0, 4294967295, cfg.max_connections)
  cfg.handshake_timeout_ms = millis(config, "handshake_timeout", cfg.handshake_timeout_ms)
  cfg.close_on_backpressure = config.close_on_backpressure and 1 or 0
  local ssl = config.ssl
  if ssl and luna.has_tls then
    cfg.tls_cert_file = ssl.cert or ssl.certificate
    cfg.tls_key_file = ssl.key
    cfg.tls_key_password = ssl.password
  end
  -- The strings must outlive luna_server_new: keep them reachable with the struct.
  return cfg, { list, names, config.host, ssl }
end


local function prepare(config)
  return c_config(config, validate(config))
end


-------------------------------------------------------------------------------
-- Apps


local function fail_new(config, msg)
  if config.no_errors then
    if config.error_handler then
      pcall(config.error_handler, msg)
    end
    return nil, msg
  end
  error(msg, 3)
end


local function make_app(config, handle)
  local app = setmetatable({
    name = config.name, host = config.host, opcodes = opcodes, protocols = config.protocols,
    debug = config.debug or false, no_errors = config.no_errors or false,
    error_handler = config.error_handler, ssl = config.ssl,
    max_queued_messages = config.max_queued_messages or DEFAULT_MAX_QUEUED,
    _handle = handle, _conns = {}, removed = false, _dispatching = false,
  }, App)
  C.luna_app_port(handle, port_out)
  app.port = port_out[0]
  return app
end


function luna.new_web_app(config)
  local ok, cfg, anchors = pcall(prepare, config)
  if not ok then
    error(cfg, 2)
  end
  if apps[config.name] then
    return fail_new(config, format("luna.new_web_app: an app named %q already exists", config.name))
  end
  if config.ssl and not luna.has_tls then
    io.stderr:write(format("[luna %s] warning: this libluna was built without TLS; 'ssl' is ignored "
      .. "and plain ws:// (not wss://) is served\n", config.name))
  end
  local handle = C.luna_server_new(cfg)
  anchors[#anchors + 1] = cfg
  if handle == nil then
    return fail_new(config, format("luna.new_web_app: cannot start %q on %s port %d: %s",
      config.name, config.host, config.port, last_error()))
  end
  local app = make_app(config, handle)
  apps[app.name] = app
  loop:add(app)
  app.tls = (config.ssl and luna.has_tls) and true or false
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
  if C.luna_app_stop(app._handle) ~= OK then
    report(app, "stop failed: " .. last_error())
  end
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
  data = payload(data, who)
  opcode = opcode_arg(opcode, who)
  if self.removed then
    return nil, "closed"
  end
  local rc = C.luna_app_broadcast(self._handle, data, #data, opcode, group, count_out)
  if rc ~= OK then
    return nil, last_error()
  end
  return tonumber(count_out[0])
end


function App:broadcast(data, opcode)
  return self:_broadcast(data, opcode, nil, "app:broadcast")
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


loop.poll_app = function(app)
  if not app.removed then poll_app(app) end
end


function luna.update(dt)
  loop:update()
end


function luna.wait(timeout)
  return (loop:wait(timeout))
end


function luna.run()
  loop:run()
end


function luna.apps()
  return loop:list()
end


return luna
