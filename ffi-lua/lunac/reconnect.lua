-- Why a client's connection failed, whether a client with `reconnect` comes back, and after
-- how long: the failure's words, the retry decision and the jittered exponential backoff.
-- No I/O; lunac/init.lua does the reconnecting.
local C = require("luna.lib").load()
local words = require("luna.errors").words

local tonumber, min, time, format = tonumber, math.min, os.time, string.format

local M = {}

-- The server's close codes for a session it cannot resume: none such, or its ring lost a
-- message we had not had.
M.NO_SESSION, M.RING_OVERFLOW = 4404, 4413

-- What a failed connection's ERROR code means, for the error message; other codes as
-- errors.words says them.
local FAILURE = {
  [tonumber(C.LUNA_RESULT_TIMEOUT)] = "connect timeout",
  [tonumber(C.LUNA_RESULT_IO)] = "connection lost during the handshake",
  [tonumber(C.LUNA_RESULT_PROTOCOL)] = "handshake failed",
}

-- Which failure, by the ERROR event's code and HTTP status.
function M.failure_kind(ev)
  if ev.http_status ~= 0 then
    return format("HTTP status %d", ev.http_status)
  end
  return FAILURE[tonumber(ev.code)] or words(ev.code)
end


-- Close codes after which a reconnect could help: the connection broke, or the server is
-- going away or restarting. Any other code is the server's decision and ends the client.
local WORTH_RETRYING = {
  [1001] = true, [1005] = true, [1006] = true, [1011] = true, [1012] = true, [1013] = true,
  [1014] = true,
}

-- Failed attempts that may succeed later: the server could not be reached or answered. A TLS
-- certificate that does not verify, a refused subprotocol or a broken handshake will not.
local TRANSIENT = {
  [tonumber(C.LUNA_RESULT_REFUSED)] = true, [tonumber(C.LUNA_RESULT_TIMEOUT)] = true,
  [tonumber(C.LUNA_RESULT_IO)] = true, [tonumber(C.LUNA_RESULT_DNS)] = true,
}


-- Whether an HTTP answer to the handshake says "later": the server is busy, restarting or
-- limiting (5xx, 408, 429). Other statuses (401, 403, 404) are its decision.
local function transient_status(status)
  return status >= 500 or status == 408 or status == 429
end


-- Whether to try again after a connection that ended with `code`: `failure` is the failed
-- attempt's { code, http_status } when it never opened, nil when it opened and dropped.
function M.worth_retrying(code, failure)
  if failure then
    if failure.http_status and failure.http_status ~= 0 then
      return transient_status(failure.http_status)
    end
    return TRANSIENT[failure.code] == true
  end
  return WORTH_RETRYING[code] == true
end


-- Whether a client whose connection ended with `code` comes back: with `reconnect`, a
-- connection that dropped or an attempt that failed for now is tried again (on_close runs
-- only once the client is done); a session the server no longer has is started anew at once.
function M.will_retry(app, code)
  local session = app._session
  if session and session.token and (code == M.NO_SESSION or code == M.RING_OVERFLOW) then
    session:forget()
    app._restart = true
  end
  if app._restart and not app._leaving and not app.removed then
    app._restart, app._attempts = false, 0
    return true
  end
  local settings = app.reconnect
  if not settings or app._leaving or app.removed or app._attempts >= settings.max_attempts then
    return false
  end
  return M.worth_retrying(code, not app._opened and app._failure or nil)
end


-- A small generator of our own for the jitter, seeded from the clock: math.random's state
-- belongs to the program, and every process would otherwise draw the same delays.
local state = (tonumber(C.luna_clock_ms()) * 2654435761 + time()) % 2147483647
local function uniform()
  state = (state * 48271) % 2147483647
  return state / 2147483647
end


-- Seconds to wait before attempt `attempts` (0 for the first after a drop): exponential,
-- capped by max_delay, drawn between half and all of that so that clients cut at the same
-- moment do not all come back at the same moment.
function M.delay(settings, attempts)
  local ceiling = min(settings.max_delay, settings.min_delay * 2 ^ min(attempts, 60))
  return ceiling / 2 + uniform() * ceiling / 2
end


return M
