-- Helpers shared by `luna` (servers) and `lunac` (clients): argument checks, config
-- validation, the error policy (error_handler / stderr / debug log), send results and the
-- update / wait / run loop.
local ffi = require("ffi")
local C = require("luna.lib").load()

local ffi_string = ffi.string
local type, tostring, pcall, floor, format = type, tostring, pcall, math.floor, string.format
local stderr = io.stderr

local OK, CLOSED, BACKPRESSURE = C.LUNA_RESULT_OK, C.LUNA_RESULT_CLOSED, C.LUNA_RESULT_BACKPRESSURE
local TIMEOUT = C.LUNA_RESULT_TIMEOUT

local M = {}

M.opcodes = { CONTINUATION = 0, TEXT = 1, BINARY = 2, CLOSE = 8, PING = 9, PONG = 10 }


function M.last_error()
  return ffi_string(C.luna_last_error())
end


-- A value as an error message shows it: `string "abc"`, `number 3`, `nil`.
function M.describe(v)
  if type(v) == "string" then
    return format("string %q", v)
  end
  return type(v) == "nil" and "nil" or type(v) .. " " .. tostring(v)
end


local describe = M.describe


-------------------------------------------------------------------------------
-- The error policy. `app` has `name`, `debug`, `error_handler`; `tag` is "luna" or "lunac".


function M.log(tag, app, msg)
  if app.debug then
    print(format("[%s %s] %s", tag, app.name, msg))
  end
end


function M.call_error_handler(tag, app, msg)
  local ok, err = pcall(app.error_handler, msg)
  if not ok then
    stderr:write(format("[%s %s] error_handler failed: %s\n", tag, app.name, tostring(err)))
  end
end


-- Every error of an app goes to its error_handler, else to stderr.
function M.report(tag, app, msg)
  if app.error_handler then
    M.call_error_handler(tag, app, msg)
  else
    stderr:write(format("[%s %s] %s\n", tag, app.name, msg))
  end
end


-------------------------------------------------------------------------------
-- Arguments of send and close. Misuse raises at the caller's caller (level 3).


function M.payload(data, who)
  local t = type(data)
  if t == "string" then
    return data
  elseif t == "number" then
    return tostring(data)
  end
  error(format("%s: data must be a string, got %s", who, describe(data)), 3)
end


function M.opcode_arg(opcode, who)
  if opcode == nil then
    return 1
  elseif type(opcode) ~= "number" then
    error(format("%s: opcode must be a number, got %s", who, describe(opcode)), 3)
  end
  return opcode
end


-- A TEXT or BINARY opcode (or none: TEXT), the common case of send.
function M.data_opcode(opcode)
  return opcode == nil or (type(opcode) == "number" and (opcode == 2 or opcode == 1))
end


function M.sendable_opcode(opcode)
  if opcode ~= 1 and opcode ~= 2 and opcode ~= 9 and opcode ~= 10 then
    return nil, format("bad opcode %s (use TEXT 1, BINARY 2, PING 9 or PONG 10)", tostring(opcode))
  end
  return true
end


function M.send_result(rc)
  if rc == OK then
    return true
  elseif rc == CLOSED then
    return nil, "closed"
  elseif rc == BACKPRESSURE then
    return nil, "backpressure"
  end
  return nil, M.last_error()
end


local function valid_close_code(code)
  return code == floor(code) and ((code >= 1000 and code <= 1003) or (code >= 1007 and code <= 1014)
    or (code >= 3000 and code <= 4999))
end


-- Defaults and checks the arguments of a close call; returns code, reason.
function M.close_args(code, reason, who)
  code = code == nil and 1000 or code
  reason = reason == nil and "" or reason
  if type(code) ~= "number" or not valid_close_code(code) then
    error(who .. ": code must be 1000-1003, 1007-1014 or 3000-4999, got " .. describe(code), 3)
  elseif type(reason) ~= "string" or #reason > 123 then
    error(who .. ": reason must be a string of at most 123 bytes, got " .. describe(reason), 3)
  end
  return code, reason
end


-- A wait timeout in seconds (nil = forever) as the C ABI's milliseconds (-1 = forever).
-- Called by Loop:wait, itself called by luna.wait / lunac.wait: errors blame their caller.
function M.timeout_ms(timeout, who)
  if timeout == nil then
    return -1
  elseif type(timeout) ~= "number" or timeout ~= timeout or timeout < 0 then
    error(who .. ": timeout must be a number of seconds >= 0 or nil, got " .. describe(timeout), 4)
  end
  return floor(math.min(timeout * 1000, 2147483647))
end


-------------------------------------------------------------------------------
-- Config validation: checker(who) gives functions that raise "who: 'key' must be ...".


function M.checker(who)
  local c = {}

  function c.bad(key, expected, got)
    error(format("%s: '%s' must be %s, got %s", who, key, expected, describe(got)), 0)
  end

  function c.fail(msg)
    error(format("%s: %s", who, msg), 0)
  end

  function c.known(config, known)
    if type(config) ~= "table" then
      error(who .. ": config must be a table, got " .. describe(config), 0)
    end
    for key in pairs(config) do
      if not known[key] then
        error(format("%s: unknown key '%s'", who, tostring(key)), 0)
      end
    end
  end

  function c.opt_type(config, key, t)
    local v = config[key]
    if v ~= nil and type(v) ~= t then
      c.bad(key, "a " .. t, v)
    end
    return v
  end

  function c.integer(config, key, min, max, default)
    local v = config[key]
    if v == nil then
      return default
    elseif type(v) ~= "number" or v ~= floor(v) or v < min or v > max then
      c.bad(key, format("an integer %d..%d", min, max), v)
    end
    return v
  end

  function c.millis(config, key, default)
    local v = config[key]
    if v == nil then
      return default
    elseif type(v) ~= "number" or v ~= v or v < 0 or v * 1000 > 4294967295 then
      c.bad(key, "a number of seconds >= 0", v)
    end
    return floor(v * 1000 + 0.5)
  end

  -- Size limits and timers both apps have, onto a C config struct `cfg`.
  function c.limits(config, cfg)
    local huge = 2 ^ 52
    cfg.max_message_size = c.integer(config, "max_message_size", 0, huge, tonumber(cfg.max_message_size))
    cfg.max_frame_size = c.integer(config, "max_frame_size", 0, huge, tonumber(cfg.max_frame_size))
    cfg.max_send_queue = c.integer(config, "max_send_queue", 0, huge, tonumber(cfg.max_send_queue))
    cfg.ping_interval_ms = c.millis(config, "ping_interval", cfg.ping_interval_ms)
    cfg.idle_timeout_ms = c.millis(config, "idle_timeout", cfg.idle_timeout_ms)
    cfg.control_frames = config.control_frames and 1 or 0
  end

  return c
end


M.LIMIT_KEYS = { "max_message_size", "max_frame_size", "max_send_queue", "ping_interval",
  "idle_timeout", "control_frames" }


-------------------------------------------------------------------------------
-- The loop of one module: its live apps, and update / wait / run over them.

local Loop = {}
Loop.__index = Loop


-- `name` prefixes its errors ("luna"); `inside` names what update must not be called from;
-- `poll_app(app)` dispatches what one app has pending (set before the first update).
function M.new_loop(name, inside)
  return setmetatable({
    name = name, inside = inside, poll_app = nil,
    order = {},     -- live apps in creation order
    snapshot = {},  -- a copy of order for update to walk; replaced, never changed
    handles = nil, count = 0, updating = false,
    pending_error = nil, -- first handler error of this update, re-raised at its end
  }, Loop)
end


function Loop:rebuild()
  self.snapshot = { unpack(self.order) }
  self.count = #self.order
  self.handles = ffi.new("LunaApp*[?]", self.count + 1)
  for i, app in ipairs(self.order) do
    self.handles[i - 1] = app._handle
  end
end


function Loop:add(app)
  self.order[#self.order + 1] = app
  self:rebuild()
end


function Loop:remove(app)
  for i, other in ipairs(self.order) do
    if other == app then
      table.remove(self.order, i)
      self:rebuild()
      return
    end
  end
end


-- Remembers a handler error, to be raised when the current update ends.
function Loop:raise_later(msg)
  if not self.pending_error then
    self.pending_error = msg
  end
end


-- Drops a remembered error outside update (an app removed between updates).
function Loop:forget_error()
  if not self.updating then
    self.pending_error = nil
  end
end


local function poll_all(snapshot, poll_app)
  for _, app in ipairs(snapshot) do
    poll_app(app)
  end
end


-- Errors point at the caller of the module function that called these (level 3).
function Loop:update()
  if self.updating then
    error(format("%s.update: called again from inside %s", self.name, self.inside), 3)
  end
  self.updating, self.pending_error = true, nil
  local ok, err = pcall(poll_all, self.snapshot, self.poll_app)
  self.updating = false
  if not ok then
    error(err, 0)
  end
  local raised = self.pending_error
  self.pending_error = nil
  if raised then
    error(raised, 0)
  end
end


function Loop:wait(timeout)
  local ms = M.timeout_ms(timeout, self.name .. ".wait")
  if self.count == 0 and ms < 0 then
    return false -- nothing could ever wake us
  end
  local rc = C.luna_app_wait_any(self.handles, self.count, ms)
  if rc ~= OK and rc ~= TIMEOUT then
    error(self.name .. ".wait: " .. M.last_error(), 3)
  end
  self:update()
  return rc == OK
end


function Loop:run()
  while #self.order > 0 do
    self:wait(1)
  end
end


function Loop:list()
  local list = {}
  for i, app in ipairs(self.order) do list[i] = app end
  return list
end


return M
