-- lunac: WebSocket clients for LuaJIT and LÖVE, on top of the C ABI in luna.h.
local ffi = require("ffi")
local lib = require("luna.lib")
local common = require("luna.common")
local C = lib.load()

local ffi_new, ffi_string = ffi.new, ffi.string
local type, tostring, pairs, ipairs, tonumber = type, tostring, pairs, ipairs, tonumber
local error, pcall, xpcall, setmetatable, getmetatable = error, pcall, xpcall, setmetatable, getmetatable
local traceback = debug.traceback
local format, sort = string.format, table.sort
local open = io.open
local describe, last_error, result = common.describe, common.last_error, common.result
local log, report = common.log, common.report
local send, close = common.send, common.close

local TAG = "lunac"
local WHO = "lunac.connect_to_web_app"
-- Said by a callback error re-raised from lunac.update.
local KEEP_RUNNING = "no_errors = true in lunac.connect_to_web_app keeps the client running"

local conn_out = ffi_new("uint64_t[1]")
local flag_out = ffi_new("uint8_t[1]")

local lunac = {}
local opcodes = common.opcodes
lunac.opcodes = opcodes
lunac.version = common.version
lunac.lib_path = lib.path
lunac.has_tls = common.has_tls

local apps = {}        -- name -> app, live apps only
local loop             -- common.new_loop, made once the event handlers exist

local App = {}
App.__index = App

-- What a failed connection's ERROR code means, for the error message; other codes as
-- common.words says them.
local FAILURE = {
  [tonumber(C.LUNA_RESULT_TIMEOUT)] = "connect timeout",
  [tonumber(C.LUNA_RESULT_IO)] = "connection lost during the handshake",
  [tonumber(C.LUNA_RESULT_PROTOCOL)] = "handshake failed",
}


-- Takes app out of the live list: its name is free again, update no longer polls it.
local function unlist(app)
  if apps[app.name] == app then
    apps[app.name] = nil
  end
  loop:remove(app)
end


local function free(app)
  local handle = app._handle
  app._handle = nil
  result(C.luna_app_free(handle), app, "lunac: free")
end


-- A callback error: with no_errors only reported; else passed to error_handler (if any)
-- and re-raised from lunac.update, which the host then shows: printed once.
local function call(app, what, fn, ...)
  if not fn then
    return
  end
  local ok, err = xpcall(fn, traceback, app, ...)
  if ok then
    return
  end
  local msg = format("%s of %q failed: %s", what, app.name, tostring(err))
  if app.no_errors then
    return report(app, msg)
  end
  if app.error_handler then
    common.call_error_handler(app, msg)
  end
  loop:raise_later(format("%s of %q failed (%s): %s", what, app.name, KEEP_RUNNING, tostring(err)))
end


-------------------------------------------------------------------------------
-- Events


local function on_open(app, ev)
  local protocol = ffi_string(ev.data, ev.len)
  app.protocol = protocol ~= "" and protocol or nil
  app.compressed = C.luna_conn_is_compressed(app._handle, ev.conn, flag_out) == C.LUNA_RESULT_OK
    and flag_out[0] ~= 0
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


-- Which failure, by the ERROR event's code and HTTP status.
local function failure_kind(ev)
  if ev.http_status ~= 0 then
    return format("HTTP status %d", ev.http_status)
  end
  return FAILURE[tonumber(ev.code)] or common.words(ev.code)
end


local function on_error(app, ev)
  local msg = ffi_string(ev.data, ev.len)
  if not app._opened then
    app.http_status = ev.http_status ~= 0 and ev.http_status or nil
    app.failure = failure_kind(ev)
    msg = format("%s: connection failed: %s (%s)", app.name, app.failure, msg)
  else
    msg = format("%s: %s: %s", app.name, common.words(ev.code), msg)
  end
  log(app, msg)
  report(app, msg)
end


-- Dispatches what is left of a disconnected app's events, then frees it.
local function finish_disconnect(app)
  -- Waits (at most close_timeout) for the closing handshake start_disconnect began.
  result(C.luna_app_stop(app._handle), app, "lunac.disconnect_to_web_app: stop")
  loop:drain(app)
  close_app(app, 1006, "disconnected", false)
  free(app)
  log(app, "disconnected")
end


loop = common.new_loop("lunac", "a callback", {
  open = on_open, message = on_message, close = on_close, error = on_error,
  after_poll = function(app)
    if app.removed then
      finish_disconnect(app)
    elseif app.state == "closed" then
      -- The connection is over: forget the app (its name is free again).
      unlist(app)
      free(app)
    end
  end,
})


-------------------------------------------------------------------------------
-- Configuration


local check = common.checker(WHO)

local KNOWN = {
  name = true, url = true, debug = true, no_errors = true, error_handler = true, protocol = true,
  ssl = true, on_connect = true, on_message = true, on_close = true, headers = true,
  connect_timeout = true,
}
for _, key in ipairs(common.LIMIT_KEYS) do KNOWN[key] = true end


-- Types only: the library checks the names themselves (RFC 6455 tokens).
local function check_protocol(protocol)
  if protocol == nil then
    return {}
  end
  local list = type(protocol) == "table" and protocol or { protocol }
  local names = {}
  for i, name in ipairs(list) do
    local key = type(protocol) == "table" and "protocol[" .. i .. "]" or "protocol"
    if type(name) ~= "string" then
      check.bad(key, "a subprotocol name (a string)", name)
    end
    check.c_string(key, name)
    names[i] = name
  end
  if type(protocol) ~= "string" and (type(protocol) ~= "table" or #names == 0) then
    check.bad("protocol", "a string or a non-empty list of strings", protocol)
  end
  return names
end


-- Header lines cross the C ABI as "Name: value" C strings: a name with ':' or a value with
-- a NUL or line break would change their meaning there.
local function check_headers(headers)
  if headers == nil then
    return {}
  elseif type(headers) ~= "table" then
    check.bad("headers", "a table of header name -> value", headers)
  end
  local lines = {}
  for name, value in pairs(headers) do
    local problem = common.header_problem(name, value)
    if problem then
      check.fail("'headers': " .. problem)
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
  check.c_string(key, path)
  local f, err = open(path, "rb")
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


-- Checks types; returns the C config and the Lua values it points into (keep them alive).
-- The URL and the subprotocol names are checked by the library.
local function prepare(config)
  check.known(config, KNOWN)
  if type(config.url) ~= "string" then
    check.bad("url", "a ws:// or wss:// URL string", config.url)
  end
  check.c_string("url", config.url)
  if config.name ~= nil and (type(config.name) ~= "string" or config.name == "") then
    check.bad("name", "a non-empty string", config.name)
  end
  for _, key in ipairs({ "debug", "no_errors" }) do check.opt_type(config, key, "boolean") end
  for _, key in ipairs({ "error_handler", "on_connect", "on_message", "on_close" }) do
    check.opt_type(config, key, "function")
  end
  local protocols, headers, ssl = check_protocol(config.protocol), check_headers(config.headers),
    check_ssl(config.ssl)
  local cfg = ffi_new("LunaClientConfig")
  result(C.luna_client_config_default(cfg), nil, WHO)
  cfg.url = config.url
  local plist, hlist
  plist, cfg.protocol_count = string_list(protocols)
  hlist, cfg.header_count = string_list(headers)
  cfg.protocols, cfg.headers = plist, hlist
  cfg.connect_timeout_ms = check.millis(config, "connect_timeout", cfg.connect_timeout_ms)
  check.limits(config, cfg)
  cfg.tls_verify = ssl.verify == false and 0 or 1
  cfg.tls_ca_file, cfg.tls_cert_file, cfg.tls_key_file = ssl.cafile, ssl.cert, ssl.key
  return cfg, { plist, hlist, protocols, headers, ssl, config.url }
end


-------------------------------------------------------------------------------
-- Apps


function lunac.connect_to_web_app(config)
  local ok, cfg, anchors = pcall(prepare, config)
  if not ok then
    error(cfg, 2)
  end
  local name = config.name or config.url
  if apps[name] then
    local msg = format("%s: a client named %q already exists", WHO, name)
    local none, err = common.fail_new(config, msg)
    return none, err
  end
  local handle = C.luna_client_connect(cfg, conn_out)
  anchors[#anchors + 1] = cfg
  if handle == nil then
    -- A bad config (the URL, subprotocol names, headers) is misuse, raised at the call; a
    -- client certificate that does not load, or wss:// without TLS, is a runtime failure.
    -- Network failures come later, as events.
    local msg = format("%s: cannot connect to %q: %s", WHO, config.url, last_error())
    if common.is_misuse(C.luna_last_result()) then
      error(msg, 2)
    end
    local none, err = common.fail_new(config, msg)
    return none, err
  end
  local app = setmetatable({
    name = name, url = config.url, opcodes = opcodes, state = "connecting", protocol = nil,
    id = tonumber(conn_out[0]), debug = config.debug or false, no_errors = config.no_errors or false,
    error_handler = config.error_handler, on_connect = config.on_connect,
    on_message = config.on_message, on_close = config.on_close,
    removed = false, _tag = TAG, _handle = handle, _dispatching = false,
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


-- Starts the closing handshake of app (if it is not closed yet, with `code`, default 1000)
-- and marks it for removal.
local function start_disconnect(app, code)
  unlist(app)
  app.removed = true
  if app.state == "connecting" or app.state == "open" then
    close(app, app.id, code or 1000, "", "lunac.disconnect_to_web_app")
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


local function close_all(code)
  local list = loop:list()
  -- Every closing handshake starts first, so they run side by side.
  for _, app in ipairs(list) do start_disconnect(app, code) end
  for _, app in ipairs(list) do
    if not app._dispatching then finish_disconnect(app) end
  end
end


function lunac.close()
  close_all(1000)
end


function App:send(data, opcode)
  local ok, err = send(self, self.id, data, opcode, "app:send")
  return ok, err
end


-- While connecting, luna_conn_close gives up the attempt (CLOSE 1006 follows).
function App:close(code, reason)
  local ok, err = close(self, self.id, code, reason, "app:close")
  if ok and (self.state == "open" or self.state == "connecting") then
    self.state = "closing"
  end
  return ok, err
end


function App:disconnect()
  return lunac.disconnect_to_web_app(self)
end


function App:__tostring()
  return format("lunac.app(%q, %s, %s)", self.name, self.url, self.state)
end


-------------------------------------------------------------------------------
-- The loop


function lunac.update(dt)
  loop:update()
end


function lunac.wait(timeout)
  return (loop:wait(timeout))
end


-- Returns nil once every client has closed, or "SIGINT" / "SIGTERM" when one of them stopped
-- it (every client was then disconnected with 1001).
function lunac.run()
  return loop:run(function() close_all(1001) end)
end


function lunac.apps()
  return loop:list()
end


return lunac
