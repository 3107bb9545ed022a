-- What goes out on a connection, for `luna` and `lunac`: send, publish, broadcast and close,
-- each behind the one check of its arguments. Lua checks their types and that a number is
-- an integer its C field holds; the library checks the values (an opcode, a close code,
-- UTF-8), and INVALID_ARGUMENT raises through `result`.
-- An app here is a table with `_handle` (nil once it is gone) and `removed`.
local ffi = require("ffi")
local C = require("luna.lib").load()
local errors = require("luna.errors")
local is_integer = require("luna.check").is_integer

local ffi_new = ffi.new
local type, tostring, tonumber, error = type, tostring, tonumber, error
local format = string.format
local describe, result, argument_result = errors.describe, errors.result, errors.argument_result

local OK = C.LUNA_RESULT_OK
local TEXT = tonumber(C.LUNA_OPCODE_TEXT)

local count_out = ffi_new("size_t[1]")

local M = {}


-------------------------------------------------------------------------------
-- Argument checks. Each method reaches them the same way: user code -> the method (ws:send)
-- -> the function here that does it (send) -> the check -> bad_argument. So every misuse is
-- raised at the line that called the method, at one level.


local ARGUMENT_LEVEL = 5
local function bad_argument(who, what, expected, got)
  error(format("%s: %s must be %s, got %s", who, what, expected, describe(got)), ARGUMENT_LEVEL)
end


function M.check_topic(topic, who)
  if type(topic) ~= "string" then
    bad_argument(who, "topic", "a string", topic)
  end
end


-- A message as the C ABI takes it: its bytes (numbers are converted) and its opcode
-- (TEXT when nil; a uint32_t).
local function check_message(data, opcode, who)
  if type(data) ~= "string" and type(data) ~= "number" then
    bad_argument(who, "data", "a string", data)
  end
  if opcode == nil then
    opcode = TEXT
  elseif not is_integer(opcode, 0, 0xFFFFFFFF) then
    bad_argument(who, "opcode", "an integer (1 TEXT, 2 BINARY, 9 PING or 10 PONG)", opcode)
  end
  return tostring(data), opcode
end


-- A close code (default 1000; the 16 bits of a CLOSE frame's code) and reason (default "").
local function check_close(code, reason, who)
  code = code == nil and 1000 or code
  reason = reason == nil and "" or reason
  if not is_integer(code, 0, 0xFFFF) then
    bad_argument(who, "code", "an integer close code (1000-1003, 1007-1014 or 3000-4999)", code)
  elseif type(reason) ~= "string" then
    bad_argument(who, "reason", "a string", reason)
  end
  return code, reason
end


-------------------------------------------------------------------------------
-- The calls. Called (not tail-called) by the method `who`, they raise at its caller; so do
-- their calls of `result` (level 3).


-- A message checked as send checks it, to be sent later (a client's queue while it
-- reconnects): its bytes and opcode, which must be one the library sends.
local SENDABLE = { [1] = true, [2] = true, [9] = true, [10] = true }
function M.message(data, opcode, who)
  data, opcode = check_message(data, opcode, who)
  if not SENDABLE[opcode] then
    bad_argument(who, "opcode", "TEXT, BINARY, PING or PONG", opcode)
  end
  return data, opcode
end


-- Sends on connection `id` of `app`.
function M.send(app, id, data, opcode, who)
  data, opcode = check_message(data, opcode, who)
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
  M.check_topic(topic, who)
  data, opcode = check_message(data, opcode, who)
  local handle = app._handle
  if handle == nil or app.removed then
    return nil, "closed"
  end
  local rc
  if except then
    rc = C.luna_conn_publish(handle, except, topic, #topic, data, #data, opcode, count_out)
  else
    rc = C.luna_app_publish(handle, topic, #topic, data, #data, opcode, count_out)
  end
  local ok, err = result(rc, app, who, 3)
  if not ok then
    return nil, err
  end
  return tonumber(count_out[0])
end


-- Sends to every connection of server `app` (with `subprotocol`, only those that agreed on
-- it); returns how many accepted it.
function M.broadcast(app, data, opcode, subprotocol, who)
  data, opcode = check_message(data, opcode, who)
  if app.removed then
    return nil, "closed"
  end
  local rc = C.luna_app_broadcast(app._handle, data, #data, opcode, subprotocol,
    subprotocol and #subprotocol or 0, count_out)
  local ok, err = result(rc, app, who, 3)
  if not ok then
    return nil, err
  end
  return tonumber(count_out[0])
end


-- Starts the closing handshake of connection `id`; a no-op on a closed one. A reason that
-- is not UTF-8 is misuse, raised like a bad code.
function M.close(app, id, code, reason, who)
  code, reason = check_close(code, reason, who)
  if app._handle == nil then
    return true
  end
  local rc = C.luna_conn_close(app._handle, id, code, reason, #reason)
  local ok, err = argument_result(rc, app, who, 3)
  return ok, err
end


return M
