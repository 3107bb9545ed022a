-- lunac: WebSocket clients for LuaJIT and LÖVE, on top of the C ABI in luna.h. The config
-- checks live in lunac/config.lua; what clients share with servers, in luna/.
local ffi = require("ffi")
local C = require("luna.lib").load()
local common = require("luna.common")
local errors = require("luna.errors")
local outgoing = require("luna.send")
local new_loop = require("luna.loop").new
local prepare = require("lunac.config").prepare
local reconnect = require("lunac.reconnect")
local new_session = require("lunac.session").new

local ffi_new, ffi_string = ffi.new, ffi.string
local type, tostring, ipairs, tonumber = type, tostring, ipairs, tonumber
local error, pcall, xpcall, setmetatable, getmetatable = error, pcall, xpcall, setmetatable, getmetatable
local traceback = debug.traceback
local format = string.format
local describe, last_error, result = errors.describe, errors.last_error, errors.result
local log, report, words = errors.log, errors.report, errors.words
local fail_new, fail_start = errors.fail_new, errors.fail_start
local send, close, checked_message = outgoing.send, outgoing.close, outgoing.message

local TAG = "lunac"
local WHO = "lunac.connect_to_web_app"
-- Said by a callback error re-raised from lunac.update.
local KEEP_RUNNING = "no_errors = true in lunac.connect_to_web_app keeps the client running"

local conn_out = ffi_new("uint64_t[1]")
local flag_out = ffi_new("uint8_t[1]")

local lunac = common.export({})
local opcodes = lunac.opcodes

local apps = {}        -- name -> app, live apps only
local loop = new_loop("lunac", "a callback")

local App = {}
App.__index = App

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


-- Calls callback `what` of app; its error goes by the loop's policy (re-raised from
-- lunac.update unless no_errors).
local function call(app, what, fn, ...)
  if not fn then
    return
  end
  local ok, err = xpcall(fn, traceback, app, ...)
  if ok then
    return
  end
  loop:handler_error(app, format("%s of %q failed: %s", what, app.name, tostring(err)),
    format("%s of %q failed (%s): %s", what, app.name, KEEP_RUNNING, tostring(err)))
end


-------------------------------------------------------------------------------
-- Events


-- Hands the sends held while no connection was open to the one that just opened.
-- Hands messages to the open connection; `keep`: they are new in the session (not resent).
local function hand_over(app, list, keep)
  local session = app._session
  for i, message in ipairs(list) do
    local ok, err = send(app, app.id, message[1], message[2], "app:send")
    if ok or (err == "closed" and session) then
      -- With a session, one the connection dropped is sent again by the next resume.
      if keep and session and (message[2] == 1 or message[2] == 2) then
        session:keep(message[1], message[2])
      end
    elseif err == "closed" then
      -- Dropped again before it could go: these wait for the next connection.
      for j = i, #list do
        app._held[#app._held + 1] = list[j]
        app._held_bytes = app._held_bytes + #list[j][1]
      end
      return
    else
      report(app, format("%s: a message sent while reconnecting was lost: %s", app.name,
        tostring(err)))
    end
  end
end


-- The connection is open for the app: what was held goes out, then on_connect.
local function become_open(app, resumed)
  app.state = "open"
  local held = app._held
  app._held, app._held_bytes = {}, 0
  hand_over(app, held, true)
  call(app, "on_connect", app.on_connect, resumed)
end


-- The server had `had` of our messages: it gets the rest again, then the held ones. A ring
-- that no longer holds them all ends the session (the next connection starts a new one).
local function resumed(app, had)
  local missed = app._session:unacknowledged(had)
  if not missed then
    app._session:forget()
    app._restart = true
    return close(app, app.id, 4413, "resume buffer overflow", "lunac")
  end
  app.resumed = app.resumed + 1
  log(app, format("resumed: the server had %d message(s), %d sent again", had, #missed))
  hand_over(app, missed, false)
  become_open(app, true)
end


-- The first message of a connection that asked for a session may be the server's answer:
-- true when it was (and is taken care of).
local function answered(app, message, opcode)
  local session = app._session
  if not session or not session.nonce or opcode ~= 1 then
    return false
  end
  local token, had = session:read_answer(message)
  local resuming = app._awaiting
  session.nonce, app._awaiting = nil, false
  if token and resuming and token == session.token then
    resumed(app, had)
    return true
  elseif token then
    session.token = token
    return true
  elseif resuming then
    -- A server that did not resume: a new start, this message its first.
    session:forget()
    become_open(app, false)
  end
  return false
end


local function on_open(app, ev)
  local protocol = ffi_string(ev.data, ev.len)
  app.protocol = protocol ~= "" and protocol or nil
  app.compressed = C.luna_conn_is_compressed(app._handle, ev.conn, flag_out) == C.LUNA_RESULT_OK
    and flag_out[0] ~= 0
  app._opened = true
  -- The previous connection dropped before the server said anything (its answer first).
  local unanswered = app._heard == false
  app._heard = false
  app._attempts = 0
  log(app, format("open %s protocol %s", app.url, app.protocol or "(none)"))
  local session = app._session
  if session and session.token then
    app._awaiting = true   -- resuming: nothing goes out before the server's answer
    return
  elseif session then
    -- Sent on a connection that dropped before the server's answer: no session this client
    -- can resume holds them, so they go first on this one.
    local orphans = unanswered and session.ring or {}
    session:forget()
    for _, message in ipairs(app._held) do
      orphans[#orphans + 1] = message
    end
    app._held = orphans -- become_open hands them over and resets the count of held bytes
  end
  if app.state ~= "closing" then
    become_open(app, false)
  end
end


local function on_message(app, ev)
  app._heard = true
  local message, opcode = ffi_string(ev.data, ev.len), ev.opcode
  if app.debug then
    log(app, format("message opcode %d, %d bytes", opcode, #message))
  end
  if answered(app, message, opcode) then
    return
  end
  local session = app._session
  if session and (opcode == 1 or opcode == 2) then
    session.received = session.received + 1
  end
  call(app, "on_message", app.on_message, message, opcode)
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
  local reason = ffi_string(ev.data, ev.len)
  if reconnect.will_retry(app, ev.code) then
    log(app, format("connection ended (code %d%s); reconnecting", ev.code,
      reason ~= "" and " " .. reason or ""))
    app.state = "reconnecting"
    app._retry = true
    return
  end
  close_app(app, ev.code, reason, ev.was_clean ~= 0)
end


local function on_error(app, ev)
  local msg = ffi_string(ev.data, ev.len)
  if not app._opened then
    app._failure = { code = tonumber(ev.code), http_status = tonumber(ev.http_status) }
    app.http_status = ev.http_status ~= 0 and ev.http_status or nil
    app.failure = reconnect.failure_kind(ev)
    msg = format("%s: connection failed: %s (%s)", app.name, app.failure, msg)
  else
    msg = format("%s: %s: %s", app.name, words(ev.code), msg)
  end
  log(app, msg)
  report(app, msg)
end


-- Dispatches what is left of a disconnected app's events, then frees it.
local function finish_disconnect(app)
  if app._handle then
    -- Waits (at most close_timeout) for the closing handshake start_disconnect began.
    result(C.luna_app_stop(app._handle), app, "lunac.disconnect_to_web_app: stop")
    loop:drain(app)
    free(app)
  end
  close_app(app, 1006, "disconnected", false)
  log(app, "disconnected")
end


-- The connection of a reconnecting app is over: free it and wait before the next attempt.
local function defer_retry(app)
  app._retry = false
  free(app)
  local delay = reconnect.delay(app.reconnect, app._attempts)
  app._attempts = app._attempts + 1
  log(app, format("attempt %d in %.2f s", app._attempts, delay))
  loop:defer(app, delay)
end


-- A new connection for a reconnecting app (Loop:defer's wake-up). A connect that fails at
-- once (no memory, no thread) counts as a failed attempt.
-- Points the C config at the URL of the next attempt (with a session, the ask; the token is
-- never logged).
local function aim(app)
  local session = app._session
  if session then
    local url = session:ask_url(app.url)
    app._config[3] = url
    app._config[1].url = url
  end
end


local function retry(app)
  aim(app)
  local handle = C.luna_client_connect(app._config[1], conn_out)
  if handle == nil then
    local msg = format("%s: cannot reconnect to %q: %s", app.name, app.url, last_error())
    log(app, msg)
    report(app, msg)
    if app._attempts < app.reconnect.max_attempts then
      return loop:defer(app, reconnect.delay(app.reconnect, app._attempts))
    end
    unlist(app)
    return close_app(app, 1006, msg, false)
  end
  app._handle, app.id, app._opened, app._failure = handle, tonumber(conn_out[0]), false, nil
  loop:add(app)
  log(app, "reconnecting to " .. app.url)
end


loop.on = {
  open = on_open, message = on_message, close = on_close, error = on_error,
  wake = retry,
  after_poll = function(app)
    if app.removed then
      finish_disconnect(app)
    elseif app._retry then
      defer_retry(app)
    elseif app.state == "closed" then
      -- The connection is over: forget the app (its name is free again).
      unlist(app)
      free(app)
    end
  end,
}


-------------------------------------------------------------------------------
-- Apps


function lunac.connect_to_web_app(config)
  local ok, cfg, anchors, settings = pcall(prepare, config)
  if not ok then
    error(cfg, 2)
  end
  local name = config.name or config.url
  if apps[name] then
    local none, err = fail_new(config, format("%s: a client named %q already exists", WHO, name))
    return none, err
  end
  local session = settings.resume and new_session(settings.resume.buffer)
  local config_kept = { cfg, anchors }
  aim({ _session = session, _config = config_kept, url = config.url })
  local handle = C.luna_client_connect(cfg, conn_out)
  if handle == nil then
    -- A bad config (the URL, subprotocol names, headers) is misuse, raised at the call; a
    -- client certificate that does not load, or wss:// without TLS, is a runtime failure.
    -- Network failures come later, as events.
    local msg = format("%s: cannot connect to %q: %s", WHO, config.url, last_error())
    local none, err = fail_start(config, msg)
    return none, err
  end
  local app = setmetatable({
    name = name, url = config.url, opcodes = opcodes, state = "connecting", protocol = nil,
    id = tonumber(conn_out[0]), debug = config.debug or false, no_errors = config.no_errors or false,
    error_handler = config.error_handler, on_connect = config.on_connect,
    on_message = config.on_message, on_close = config.on_close,
    reconnect = settings.reconnect, max_send_queue = settings.max_send_queue,
    resume = settings.resume, resumed = 0,
    removed = false, _tag = TAG, _handle = handle, _dispatching = false,
    -- What a reconnect needs: the C config and what it points into.
    _config = config_kept, _attempts = 0, _session = session,
    -- Sends held in Lua until a connection opens (with reconnect only), and their bytes.
    _held = {}, _held_bytes = 0,
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
    return apps[app_or_name.name] == app_or_name and not app_or_name.removed and app_or_name or nil
  end
  error(who .. ": expected a client app or its name, got " .. describe(app_or_name), 3)
end


-- Starts the closing handshake of app (if it is not closed yet, with `code`, default 1000)
-- and marks it for removal.
local function start_disconnect(app, code)
  unlist(app)
  app.removed = true
  if app._handle and (app.state == "connecting" or app.state == "open" or app.state == "reconnecting") then
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


-- Holds a message for the next connection; called by App:send (errors at its caller).
local function hold(app, data, opcode)
  data, opcode = checked_message(data, opcode, "app:send")
  if app.state == "closing" or app.state == "closed" or app.removed then
    return nil, "closed"
  end
  local limit = app.max_send_queue
  if limit > 0 and app._held_bytes + #data > limit then
    return nil, "backpressure"
  end
  app._held[#app._held + 1] = { data, opcode }
  app._held_bytes = app._held_bytes + #data
  return true
end


-- With reconnect, what is sent while no connection is open waits here, in order, at most
-- max_send_queue bytes (0: no limit), and goes out when one opens: a failed attempt loses
-- nothing.
function App:send(data, opcode)
  if self.reconnect and self.state ~= "open" then
    return hold(self, data, opcode)
  end
  local ok, err = send(self, self.id, data, opcode, "app:send")
  if ok and self._session and (opcode == nil or opcode == 1 or opcode == 2) then
    self._session:keep(tostring(data), opcode or 1)
  elseif err == "closed" and self.reconnect and not self._leaving then
    -- The connection dropped and its CLOSE is on its way: the next one takes this.
    return hold(self, data, opcode)
  end
  return ok, err
end


-- While connecting, luna_conn_close gives up the attempt (CLOSE 1006 follows); while
-- waiting to reconnect, the client ends here.
function App:close(code, reason)
  if self.state == "reconnecting" and not self._handle then
    close(self, self.id, code, reason, "app:close")   -- no connection: checks the arguments
    self._leaving = true
    unlist(self)
    close_app(self, code or 1000, reason or "", true)
    return true
  end
  local ok, err = close(self, self.id, code, reason, "app:close")
  self._leaving = self._leaving or ok
  local state = self.state
  if ok and (state == "open" or state == "connecting" or state == "reconnecting") then
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
