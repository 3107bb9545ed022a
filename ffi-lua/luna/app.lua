-- A server's apps: the app object and its methods, how an app is removed, and its app-wide
-- events (access log lines, errors).
local ffi = require("ffi")
local C = require("luna.lib").load()
local errors = require("luna.errors")
local outgoing = require("luna.send")
local state = require("luna.server_state")
local closed = require("luna.ws").closed
local DEFAULT_MAX_QUEUED = require("luna.config").DEFAULT_MAX_QUEUED
local opcodes = require("luna.common").opcodes

local ffi_new, ffi_string = ffi.new, ffi.string
local type, tostring, tonumber, pairs, ipairs = type, tostring, tonumber, pairs, ipairs
local error, pcall, setmetatable, getmetatable = error, pcall, setmetatable, getmetatable
local floor, format, sort = math.floor, string.format, table.sort
local stdout = io.stdout
local describe, result, log, report = errors.describe, errors.result, errors.log, errors.report
local argument_result = errors.argument_result
local is_integer = require("luna.check").is_integer
local call_error_handler, words = errors.call_error_handler, errors.words
local broadcast, publish = outgoing.broadcast, outgoing.publish
local apps, loop = state.apps, state.loop

local TIMEOUT, PROTOCOL = C.LUNA_RESULT_TIMEOUT, C.LUNA_RESULT_PROTOCOL
local TAG = "luna"

local port_out = ffi_new("uint16_t[1]")
local drained_out = ffi_new("uint8_t[1]")

local App = {}
App.__index = App

local M = {}


-- The app object of a server the library started (`handle`) from `config`.
function M.new(config, handle)
  local app = setmetatable({
    name = config.name, host = config.host, opcodes = opcodes, protocols = config.protocols,
    debug = config.debug or false, no_errors = config.no_errors or false,
    error_handler = config.error_handler, ssl = config.ssl, on_upgrade = config.on_upgrade,
    http = config.http, access_log = config.access_log,
    _upgrade_data = {},
    max_queued_messages = config.max_queued_messages or DEFAULT_MAX_QUEUED,
    _tag = TAG, _handle = handle, _conns = {}, removed = false, _dispatching = false,
    _open = 0, _open_peak = 0,
  }, App)
  result(C.luna_app_port(handle, port_out), app, "luna.new_web_app: port")
  app.port = port_out[0]
  return app
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


local function resolve(app_or_name)
  if type(app_or_name) == "string" then
    return apps[app_or_name]
  elseif type(app_or_name) == "table" and getmetatable(app_or_name) == App then
    return not app_or_name.removed and app_or_name or nil
  end
  error("luna.remove_web_app: expected an app or its name, got " .. describe(app_or_name), 3)
end


-- luna.remove_web_app: stops the app; it is freed now, or after the batch being dispatched.
function M.remove(app_or_name)
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


-- Connections that must have ended, and more than half of the most that were open, for a
-- full garbage collection: the ws objects and coroutines of a mass disconnect would
-- otherwise stay until the collector next runs, and an idle server gives it no reason to.
-- The wave goes on over several polls, so once it started the collection runs again each
-- time the open connections fell to a quarter, and when none is left. (The library hands
-- back its own memory after such a disconnect.)
local MASS_DISCONNECT = 1000


local function collect_after_mass_disconnect(app)
  local open, peak, wave = app._open, app._open_peak, app._wave_left
  local collect
  if open > peak then
    app._open_peak, app._wave_left = open, nil
  elseif wave then
    collect = open == 0 or open <= wave / 4
  else
    collect = peak - open >= MASS_DISCONNECT and open < peak / 2
  end
  if collect then
    collectgarbage("collect")
    app._open_peak, app._wave_left = open, open > 0 and open or nil
  end
end


-- After each dispatch of an app: a removed app is freed, a drained one removed.
function M.after_poll(app)
  collect_after_mass_disconnect(app)
  if app.removed then
    finish_removal(app)
  elseif app._draining then
    result(C.luna_app_drained(app._handle, drained_out), app, "app:drain")
    if drained_out[0] == 1 then
      M.remove(app)
    end
  end
end


-------------------------------------------------------------------------------
-- Methods


function App:close()
  return M.remove(self)
end


function App:broadcast(data, opcode)
  local count, err = broadcast(self, data, opcode, nil, "app:broadcast")
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
  elseif not is_integer(code, 0, 65535) then
    error(format("%s: 'code' must be a close code, got %s", who, describe(code)), 2)
  elseif type(reason) ~= "string" then
    error(format("%s: 'reason' must be a string, got %s", who, describe(reason)), 2)
  end
  if self.removed then
    return nil, "closed"
  end
  local rc = C.luna_app_drain(self._handle, floor(timeout * 1000 + 0.5), code, reason, #reason)
  local ok, err = argument_result(rc, self, who, 2)
  if not ok then
    return nil, err
  end
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
-- App-wide events


-- An access log line: to `access_log(line)` when it is a function, else to stdout.
function M.on_log(app, ev)
  local line = ffi_string(ev.data, ev.len)
  local sink = app.access_log
  if type(sink) == "function" then
    local ok, err = pcall(sink, line)
    if not ok then
      report(app, "access_log: " .. tostring(err))
    end
  else
    stdout:write(line, "\n")
    stdout:flush()
  end
end


-- ERROR: reported, but what a peer did wrong and failed upgrades, which only debug shows.
function M.on_error(app, ev)
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
  report(app, format("%s: %s", words(ev.code), msg))
end


return M
