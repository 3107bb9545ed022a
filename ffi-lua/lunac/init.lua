-- lunac: WebSocket clients for LuaJIT and LÖVE (SPEC §5), on top of the C ABI in luna.h.
local ffi = require("ffi")
local lib = require("luna.lib")
local common = require("luna.common")
local C = lib.load()

local ffi_new, ffi_string = ffi.new, ffi.string
local type, tostring, pairs, ipairs, tonumber = type, tostring, pairs, ipairs, tonumber
local setmetatable, getmetatable, xpcall, traceback = setmetatable, getmetatable, xpcall, debug.traceback
local format, sort = string.format, table.sort
local describe, report, last_error = common.describe, common.report, common.last_error
local data_opcode, send_result = common.data_opcode, common.send_result

local OK, CLOSED = C.LUNA_RESULT_OK, C.LUNA_RESULT_CLOSED
local EV_OPEN, EV_MESSAGE = C.LUNA_EVENT_KIND_OPEN, C.LUNA_EVENT_KIND_MESSAGE
local EV_CLOSE, EV_ERROR = C.LUNA_EVENT_KIND_CLOSE, C.LUNA_EVENT_KIND_ERROR

local TAG = "lunac"
local EVENTS = 256
-- Batches polled per app per update; later events wait for the next call.
local MAX_ROUNDS = 8

local events = ffi_new("LunaEvent[?]", EVENTS)
local count_out = ffi_new("size_t[1]")
local conn_out = ffi_new("uint64_t[1]")

local lunac = {}
local opcodes = common.opcodes
lunac.opcodes = opcodes
lunac.version = ffi_string(C.luna_version())
lunac.lib_path = lib.path
lunac.has_tls = C.luna_has_tls() ~= 0

local apps = {}        -- name -> app, live apps only
local loop = common.new_loop("lunac", "a callback")

local App = {}
App.__index = App

-- What a failed connection's ERROR class means, for the error message.
local FAILURE = {
  [tonumber(C.LUNA_RESULT_REFUSED)] = "connection refused",
  [tonumber(C.LUNA_RESULT_DNS)] = "host not found (DNS)",
  [tonumber(C.LUNA_RESULT_TIMEOUT)] = "connect timeout",
  [tonumber(C.LUNA_RESULT_TLS)] = "TLS failure",
  [tonumber(C.LUNA_RESULT_IO)] = "connection lost during the handshake",
  [tonumber(C.LUNA_RESULT_PROTOCOL)] = "handshake failed",
}


local function log(app, msg)
  common.log(TAG, app, msg)
end


-- Takes app out of the live list: its name is free again, update no longer polls it.
local function unlist(app)
  if apps[app.name] == app then
    apps[app.name] = nil
  end
  loop:remove(app)
end


-- A callback error: reported, and re-raised from update unless no_errors.
local function callback_error(app, msg)
  report(TAG, app, msg)
  if not app.no_errors then
    loop:raise_later(msg)
  end
end


local function call(app, what, fn, ...)
  if not fn then
    return
  end
  local ok, err = xpcall(fn, traceback, app, ...)
  if not ok then
    callback_error(app, format("%s of %q failed: %s", what, app.name, tostring(err)))
  end
end


-------------------------------------------------------------------------------
-- Events


local function on_open(app, ev)
  local protocol = ffi_string(ev.data, ev.len)
  app.protocol = protocol ~= "" and protocol or nil
  app._opened = true
  if app.state == "connecting" then
    app.state = "open"
  end
  log(app, format("open %s protocol %s", app.url, app.protocol or "(none)"))
  call(app, "on_connect", app.on_connect)
end


local function on_message(app, ev)
  local message = ffi_string(ev.data, ev.len)
  if app.debug then
    log(app, format("message opcode %d, %d bytes", ev.opcode, #message))
  end
  call(app, "on_message", app.on_message, message, ev.opcode)
end


local function close_app(app, code, reason, was_clean)
  if app.state == "closed" then
    return
  end
  app.state = "closed"
  app.close_code, app.close_reason, app.was_clean = code, reason, was_clean
  log(app, format("close code %d reason %q%s", code, reason, was_clean and "" or " (not clean)"))
  call(app, "on_close", app.on_close, code, reason)
end


local function on_close(app, ev)
  close_app(app, ev.code, ffi_string(ev.data, ev.len), ev.was_clean ~= 0)
end


local function failure_kind(ev, msg)
  if ev.http_status ~= 0 then
    return format("HTTP status %d", ev.http_status)
  elseif msg:find("subprotocol", 1, true) then
    return "subprotocol not accepted"
  end
  return FAILURE[tonumber(ev.code)] or ffi_string(C.luna_result_name(ev.code))
end


local function on_error(app, ev)
  local msg = ffi_string(ev.data, ev.len)
  if not app._opened then
    app.http_status = ev.http_status ~= 0 and ev.http_status or nil
    app.failure = failure_kind(ev, msg)
    msg = format("%s: connection failed: %s (%s)", app.name, app.failure, msg)
  else
    msg = format("%s: %s: %s", app.name, ffi_string(C.luna_result_name(ev.code)), msg)
  end
  log(app, msg)
  report(TAG, app, msg)
end


-- Polls one batch of app and dispatches it; returns how many events it held.
local function poll_once(app)
  if C.luna_app_poll(app._handle, events, EVENTS, count_out) ~= OK then
    report(TAG, app, "poll failed: " .. last_error())
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


local function free(app)
  C.luna_app_free(app._handle)
  app._handle = nil
end


-- Dispatches what is left of a disconnected app's events, then frees it.
local function finish_disconnect(app)
  if C.luna_app_stop(app._handle) ~= OK then
    report(TAG, app, "stop failed: " .. last_error())
  end
  for _ = 1, 10000 do
    if poll_once(app) == 0 then
      break
    end
  end
  close_app(app, 1006, "disconnected", false)
  free(app)
  log(app, "disconnected")
end


local function poll_app(app)
  app._dispatching = true
  for _ = 1, MAX_ROUNDS do
    if poll_once(app) < EVENTS or app.removed or app.state == "closed" then
      break
    end
  end
  app._dispatching = false
  -- What the callbacks sent goes out now.
  if app._handle then C.luna_app_flush(app._handle) end
  if app.removed then
    finish_disconnect(app)
  elseif app.state == "closed" then
    -- The connection is over: forget the app (its name is free again).
    unlist(app)
    free(app)
  end
end


-------------------------------------------------------------------------------
-- Configuration


local WHO = "lunac.connect_to_web_app"
local check = common.checker(WHO)

local KNOWN = {
  name = true, url = true, debug = true, no_errors = true, error_handler = true, protocol = true,
  ssl = true, on_connect = true, on_message = true, on_close = true, headers = true,
  connect_timeout = true, close_timeout = true, close_on_backpressure = true,
}
for _, key in ipairs(common.LIMIT_KEYS) do KNOWN[key] = true end


-- Checks what the C side cannot tell apart from a DNS failure; it rejects the rest.
local function check_url(url)
  if type(url) ~= "string" or url == "" then
    check.bad("url", "a ws:// or wss:// URL string", url)
  end
  local scheme, rest = url:match("^([%a][%w+.-]*)://(.*)$")
  if not scheme or (scheme:lower() ~= "ws" and scheme:lower() ~= "wss") then
    check.bad("url", "a ws:// or wss:// URL", url)
  end
  local authority = rest:match("^[^/?#]*")
  authority = authority:match("@(.*)$") or authority
  local host, port
  if authority:sub(1, 1) == "[" then
    host, port = authority:match("^(%[[^%]]*%])(.*)$")
  else
    host, port = authority:match("^([^:]*)(.*)$")
  end
  if not host or host == "" or host == "[]" then
    check.fail(format("'url' has no host: %q", url))
  end
  if port ~= "" then
    local n = tonumber(port:match("^:(%d+)$"))
    if not n or n < 1 or n > 65535 then
      check.fail(format("'url' has a bad port %q (expected 1..65535): %q", port:sub(2), url))
    end
  end
  return scheme:lower() == "wss"
end


local function check_protocol(protocol)
  if protocol == nil then
    return {}
  end
  local list = type(protocol) == "table" and protocol or { protocol }
  local names = {}
  for i, name in ipairs(list) do
    if type(name) ~= "string" or name == "" or name:find("[%s,;\"]") then
      check.bad(type(protocol) == "table" and "protocol[" .. i .. "]" or "protocol",
        "a subprotocol name (non-empty, no spaces or commas)", name)
    end
    names[i] = name
  end
  if type(protocol) ~= "string" and (type(protocol) ~= "table" or #names == 0) then
    check.bad("protocol", "a string or a non-empty list of strings", protocol)
  end
  return names
end


local function check_headers(headers)
  if headers == nil then
    return {}
  elseif type(headers) ~= "table" then
    check.bad("headers", "a table of header name -> value", headers)
  end
  local lines = {}
  for name, value in pairs(headers) do
    if type(name) ~= "string" or not name:find("^[%w!#$%%&'*+.^_`|~-]+$") then
      check.bad("headers", "keyed by header names", name)
    elseif (type(value) ~= "string" and type(value) ~= "number") or tostring(value):find("[\r\n%z]") then
      check.bad("headers." .. name, "a string without line breaks", value)
    end
    lines[#lines + 1] = name .. ": " .. tostring(value)
  end
  sort(lines)
  return lines
end


local function readable(key, path)
  if type(path) ~= "string" then
    check.bad(key, "a file path string", path)
  end
  local f, err = io.open(path, "rb")
  if not f then
    check.fail(format("'%s': cannot read %s", key, err))
  end
  f:close()
  return path
end


local function check_ssl(ssl)
  if ssl == nil then
    return {}
  elseif type(ssl) ~= "table" then
    check.bad("ssl", "a table { verify, cafile, cert, key }", ssl)
  end
  for key in pairs(ssl) do
    if key ~= "verify" and key ~= "cafile" and key ~= "cert" and key ~= "certificate" and key ~= "key" then
      check.fail(format("unknown key 'ssl.%s'", tostring(key)))
    end
  end
  if ssl.verify ~= nil and type(ssl.verify) ~= "boolean" then
    check.bad("ssl.verify", "a boolean", ssl.verify)
  end
  local cert = ssl.cert or ssl.certificate
  if (cert == nil) ~= (ssl.key == nil) then
    check.fail("'ssl.cert' and 'ssl.key' go together: give both or neither")
  end
  return {
    verify = ssl.verify ~= false,
    cafile = ssl.cafile ~= nil and readable("ssl.cafile", ssl.cafile) or nil,
    cert = cert ~= nil and readable("ssl.cert", cert) or nil,
    key = ssl.key ~= nil and readable("ssl.key", ssl.key) or nil,
  }
end


local function string_list(strings)
  local list = ffi_new("const char*[?]", #strings + 1)
  for i, s in ipairs(strings) do list[i - 1] = s end
  return list, #strings
end


-- Validates config; returns the C config and the Lua values it points into (keep them alive).
local function prepare(config)
  check.known(config, KNOWN)
  check_url(config.url)
  if config.name ~= nil and (type(config.name) ~= "string" or config.name == "") then
    check.bad("name", "a non-empty string", config.name)
  end
  for _, key in ipairs({ "debug", "no_errors", "control_frames", "close_on_backpressure" }) do check.opt_type(config, key, "boolean") end
  for _, key in ipairs({ "error_handler", "on_connect", "on_message", "on_close" }) do
    check.opt_type(config, key, "function")
  end
  local protocols, headers, ssl = check_protocol(config.protocol), check_headers(config.headers),
    check_ssl(config.ssl)
  local cfg = ffi_new("LunaClientConfig")
  C.luna_client_config_default(cfg)
  cfg.url = config.url
  local plist, hlist
  plist, cfg.protocol_count = string_list(protocols)
  hlist, cfg.header_count = string_list(headers)
  cfg.protocols, cfg.headers = plist, hlist
  cfg.connect_timeout_ms = check.millis(config, "connect_timeout", cfg.connect_timeout_ms)
  cfg.close_timeout_ms = check.millis(config, "close_timeout", cfg.close_timeout_ms)
  check.limits(config, cfg)
  cfg.close_on_backpressure = config.close_on_backpressure and 1 or 0
  cfg.tls_verify = ssl.verify == false and 0 or 1
  cfg.tls_ca_file, cfg.tls_cert_file, cfg.tls_key_file = ssl.cafile, ssl.cert, ssl.key
  return cfg, { plist, hlist, protocols, headers, ssl, config.url }
end


-------------------------------------------------------------------------------
-- Apps


local function fail_connect(config, msg)
  if config.no_errors then
    if config.error_handler then
      pcall(config.error_handler, msg)
    end
    return nil, msg
  end
  error(msg, 3)
end


function lunac.connect_to_web_app(config)
  local ok, cfg, anchors = pcall(prepare, config)
  if not ok then
    error(cfg, 2)
  end
  local name = config.name or config.url
  if apps[name] then
    return fail_connect(config, format("%s: a client named %q already exists", WHO, name))
  end
  local handle = C.luna_client_connect(cfg, conn_out)
  anchors[#anchors + 1] = cfg
  if handle == nil then
    -- The URL checks above pass only URLs the C side can parse, so this is a bad URL part
    -- (characters, path) or a certificate it cannot load: misuse, raised at the call.
    error(format("%s: cannot connect to %q: %s", WHO, config.url, last_error()), 2)
  end
  local app = setmetatable({
    name = name, url = config.url, opcodes = opcodes, state = "connecting", protocol = nil,
    id = tonumber(conn_out[0]), debug = config.debug or false, no_errors = config.no_errors or false,
    error_handler = config.error_handler, on_connect = config.on_connect,
    on_message = config.on_message, on_close = config.on_close,
    removed = false, _handle = handle, _dispatching = false,
  }, App)
  apps[name] = app
  loop:add(app)
  log(app, "connecting to " .. app.url)
  return app
end


local function resolve(app_or_name, who)
  if type(app_or_name) == "string" then
    return apps[app_or_name]
  elseif type(app_or_name) == "table" and getmetatable(app_or_name) == App then
    return app_or_name._handle and not app_or_name.removed and app_or_name or nil
  end
  error(who .. ": expected a client app or its name, got " .. describe(app_or_name), 3)
end


-- Starts the closing handshake of app (if it is not closed yet) and marks it for removal.
local function start_disconnect(app)
  unlist(app)
  app.removed = true
  if app.state == "connecting" or app.state == "open" then
    C.luna_conn_close(app._handle, app.id, 1000, nil, 0)
    app.state = "closing"
  end
end


function lunac.disconnect_to_web_app(app_or_name)
  local app = resolve(app_or_name, "lunac.disconnect_to_web_app")
  if not app then
    return nil, "no such app"
  end
  start_disconnect(app)
  if not app._dispatching then
    finish_disconnect(app)
  end
  return true
end


function lunac.close()
  local list = loop:list()
  -- Every closing handshake starts first, so they run side by side.
  for _, app in ipairs(list) do start_disconnect(app) end
  for _, app in ipairs(list) do
    if not app._dispatching then finish_disconnect(app) end
  end
end


function App:send(data, opcode)
  -- Fast path: the checks below would all pass.
  if type(data) == "string" and data_opcode(opcode) and self.state ~= "closed" and self._handle then
    local rc = C.luna_conn_send(self._handle, self.id, data, #data, opcode or 1)
    if rc == OK then
      return true
    end
    return send_result(rc)
  end
  data = common.payload(data, "app:send")
  opcode = common.opcode_arg(opcode, "app:send")
  if self.state == "closed" or not self._handle then
    return nil, "closed"
  end
  local ok, err = common.sendable_opcode(opcode)
  if not ok then
    return nil, err
  end
  return common.send_result(C.luna_conn_send(self._handle, self.id, data, #data, opcode))
end


function App:close(code, reason)
  code, reason = common.close_args(code, reason, "app:close")
  if (self.state ~= "open" and self.state ~= "connecting") or not self._handle then
    return true
  end
  local rc = C.luna_conn_close(self._handle, self.id, code, reason, #reason)
  if rc ~= OK and rc ~= CLOSED then
    error("app:close: " .. last_error(), 2)
  end
  if self.state == "connecting" then
    -- luna_conn_close does not abort a connection attempt; stopping the app does
    -- (CLOSE 1006 follows), and returns at once while the attempt is still in progress.
    C.luna_app_stop(self._handle)
  end
  self.state = "closing"
  return true
end


function App:disconnect()
  return lunac.disconnect_to_web_app(self)
end


function App:__tostring()
  return format("lunac.app(%q, %s, %s)", self.name, self.url, self.state)
end


-------------------------------------------------------------------------------
-- The loop


loop.poll_app = function(app)
  if not app.removed and app._handle then poll_app(app) end
end


function lunac.update(dt)
  loop:update()
end


function lunac.wait(timeout)
  return (loop:wait(timeout))
end


function lunac.run()
  loop:run()
end


function lunac.apps()
  return loop:list()
end


return lunac
