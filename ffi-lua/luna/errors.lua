-- The error policy `luna` (servers) and `lunac` (clients) share: the one mapping of C result
-- codes, how a value shows in a message, where an app's errors and debug lines go. An app
-- here is a table with `name`, `debug`, `no_errors`, `error_handler` and `_tag` ("luna" or
-- "lunac").
local ffi = require("ffi")
local C = require("luna.lib").load()

local ffi_string = ffi.string
local type, tostring, tonumber, error, pcall = type, tostring, tonumber, error, pcall
local format = string.format
local stderr, stdout = io.stderr, io.stdout
-- Logs go through the global print of the moment: a host (a LÖVE console, a test) may
-- redirect it.
local G = _G

local OK, CLOSED, BACKPRESSURE = C.LUNA_RESULT_OK, C.LUNA_RESULT_CLOSED, C.LUNA_RESULT_BACKPRESSURE
local INVALID_ARGUMENT = C.LUNA_RESULT_INVALID_ARGUMENT
local INVALID_UTF8, TOO_LARGE = C.LUNA_RESULT_INVALID_UTF8, C.LUNA_RESULT_TOO_LARGE

local M = {}


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
-- content or size): nil, message. INVALID_ARGUMENT is misuse, raised (so is any failure
-- without an app): `level` counts from the caller of `result` (1) up, default 2 (its
-- caller). Anything else is a runtime failure: reported by the app's policy, then nil,
-- message. Callers that may raise do not tail-call it, so the levels stay true.
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


-- As `result`, for a call whose arguments are all the caller's choice and none a payload (a
-- close code and reason): invalid UTF-8 there is misuse too, raised at the same level.
function M.argument_result(rc, app, who, level)
  level = level or 2
  if rc == INVALID_UTF8 then
    error(who .. ": " .. last_error(), level + 1)
  end
  local ok, err = M.result(rc, app, who, level + 1)
  return ok, err
end


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
local function is_misuse(rc)
  return rc == INVALID_ARGUMENT or rc == INVALID_UTF8
end


-- A constructor's failure: raised at the caller of the module function (refuse, then
-- fail_new or fail_start, then the module function, which must not tail-call them), unless
-- it is a runtime failure under no_errors: then nil, msg, after error_handler.
local function refuse(config, msg, misuse)
  if config.no_errors and not misuse then
    if config.error_handler then
      pcall(config.error_handler, msg)
    end
    return nil, msg
  end
  error(msg, 4)
end


-- A constructor's runtime failure (a name already taken, say).
function M.fail_new(config, msg)
  local none, err = refuse(config, msg, false)
  return none, err
end


-- A constructor whose C call returned NULL: a config the library refused (the URL, a
-- subprotocol name) is misuse; anything else (a port in use, no TLS in this build) is a
-- runtime failure. `msg` already says last_error().
function M.fail_start(config, msg)
  local none, err = refuse(config, msg, is_misuse(C.luna_last_result()))
  return none, err
end


return M
