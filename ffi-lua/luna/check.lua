-- What Lua values may cross the C ABI, for `luna` and `lunac`: the config checker, header
-- lines and C string lists. Lua checks types and what the C types cannot carry (a NUL in
-- a C string, a number outside its C field, a header line that would change meaning); the
-- library checks the protocol values themselves.
local ffi = require("ffi")
local describe = require("luna.errors").describe

local ffi_new = ffi.new
local type, tostring, tonumber, error, pairs, ipairs = type, tostring, tonumber, error, pairs, ipairs
local floor, format = math.floor, string.format

local M = {}


-- Whether `v` is a whole number in min..max: what a C integer field takes as the caller
-- means it (C would cut 1.5 to 1 and wrap 2^32 + 1 to 1). NaN and infinities are not.
function M.is_integer(v, min_value, max_value)
  return type(v) == "number" and v % 1 == 0 and v >= min_value and v <= max_value
end


local is_integer = M.is_integer


-- Limits and timers servers and clients both have (docs/reference/lua-server.md, "Limits and defaults").
M.LIMIT_KEYS = { "max_message_size", "max_frame_size", "max_send_queue", "ping_interval",
  "idle_timeout", "close_timeout", "read_buffer_size", "control_frames", "close_on_backpressure",
  "compression", "compression_threshold", "compression_level" }

-- `compression` values as the C ABI numbers them.
local COMPRESSION = { [false] = 0, [true] = 1, shared = 1, dedicated = 2 }


-------------------------------------------------------------------------------
-- Strings for C


-- The strings of `list` as a C array (nil, 0 for no list); the strings stay owned by
-- `list`, which the caller keeps alive as long as the array.
function M.c_strings(list)
  if not list then
    return nil, 0
  end
  local array = ffi_new("const char*[?]", #list + 1)
  for i, item in ipairs(list) do array[i - 1] = item end
  return array, #list
end


-- Strings without a length cross the C ABI NUL-terminated: a NUL would cut them there.
-- Header lines also end at CR or LF. What is wrong with header `name: value`, or nil.
local TOKEN = "^[%w!#$%%&'*+.^_`|~-]+$"
local function header_problem(name, value)
  if type(name) ~= "string" or not name:find(TOKEN) then
    return format("header name %s is not a token", describe(name))
  elseif type(value) ~= "string" and type(value) ~= "number" then
    return format("header '%s' must be a string, got %s", name, describe(value))
  elseif tostring(value):find("%z") then
    return format("header '%s' contains a NUL byte", name)
  elseif tostring(value):find("[\r\n]") then
    return format("header '%s' contains a line break (CR or LF)", name)
  end
end


-- "Name: value" lines from a table name -> value (with `lists`, also name -> list of
-- values): the lines, or nil and what is wrong. The lines cross as C strings, so a NUL or
-- a line break in a value (say from luna.parse_query) is refused, never cut.
function M.header_lines(headers, lists)
  local lines = {}
  for name, value in pairs(headers) do
    local values = (lists and type(value) == "table") and value or { value }
    for _, v in ipairs(values) do
      local problem = header_problem(name, v)
      if problem then
        return nil, problem
      end
      lines[#lines + 1] = name .. ": " .. tostring(v)
    end
  end
  return lines
end


-------------------------------------------------------------------------------
-- Config checks: each raises "who: 'key' must be ...", at level 0: the constructor runs them
-- under pcall and raises the message at its caller. checker(who) binds them to one `who`.


local function bad(who, key, expected, got)
  error(format("%s: '%s' must be %s, got %s", who, key, expected, describe(got)), 0)
end


local function fail(who, msg)
  error(format("%s: %s", who, msg), 0)
end


-- `config` is a table whose keys are all in the set `known`.
local function known_keys(who, config, known)
  if type(config) ~= "table" then
    error(who .. ": config must be a table, got " .. describe(config), 0)
  end
  for key in pairs(config) do
    if not known[key] then
      error(format("%s: unknown key '%s'", who, tostring(key)), 0)
    end
  end
end


-- A config string that crosses the C ABI NUL-terminated.
local function c_string(who, key, v)
  if type(v) == "string" and v:find("%z") then
    bad(who, key, "a string without NUL bytes", v)
  end
  return v
end


local function opt_type(who, config, key, t)
  local v = config[key]
  if v ~= nil and type(v) ~= t then
    bad(who, key, "a " .. t, v)
  end
  return v
end


local function integer(who, config, key, min_value, max_value, default)
  local v = config[key]
  if v == nil then
    return default
  elseif not is_integer(v, min_value, max_value) then
    bad(who, key, format("an integer %d..%d", min_value, max_value), v)
  end
  return v
end


local function millis(who, config, key, default)
  local v = config[key]
  if v == nil then
    return default
  elseif type(v) ~= "number" or v ~= v or v < 0 or v * 1000 > 4294967295 then
    bad(who, key, "a number of seconds >= 0", v)
  end
  local ms = floor(v * 1000 + 0.5)
  -- 0 turns a timeout off: a tiny positive value must not do so by rounding.
  if ms == 0 and v > 0 then
    bad(who, key, "0 (off) or at least 0.001 seconds", v)
  end
  return ms
end


-- The LIMIT_KEYS of `config` onto a C config struct `cfg`.
local function limits(who, config, cfg)
  local huge = 2 ^ 52
  cfg.max_message_size = integer(who, config, "max_message_size", 0, huge, tonumber(cfg.max_message_size))
  cfg.max_frame_size = integer(who, config, "max_frame_size", 0, huge, tonumber(cfg.max_frame_size))
  cfg.max_send_queue = integer(who, config, "max_send_queue", 0, huge, tonumber(cfg.max_send_queue))
  cfg.ping_interval_ms = millis(who, config, "ping_interval", cfg.ping_interval_ms)
  cfg.idle_timeout_ms = millis(who, config, "idle_timeout", cfg.idle_timeout_ms)
  cfg.close_timeout_ms = millis(who, config, "close_timeout", cfg.close_timeout_ms)
  cfg.read_buffer_size = integer(who, config, "read_buffer_size", 0, 4294967295, cfg.read_buffer_size)
  cfg.control_frames = opt_type(who, config, "control_frames", "boolean") and 1 or 0
  cfg.close_on_backpressure = opt_type(who, config, "close_on_backpressure", "boolean") and 1 or 0
  local compression = config.compression
  if compression ~= nil then
    if COMPRESSION[compression] == nil then
      bad(who, "compression", 'false, true, "shared" or "dedicated"', compression)
    end
    cfg.compression = COMPRESSION[compression]
  end
  cfg.compression_threshold = integer(who, config, "compression_threshold", 1, 4294967295,
    cfg.compression_threshold)
  cfg.compression_level = integer(who, config, "compression_level", 1, 9, cfg.compression_level)
end


local CHECKS = { bad = bad, fail = fail, known = known_keys, c_string = c_string,
  opt_type = opt_type, integer = integer, millis = millis, limits = limits }


-- The checks above as functions of their other arguments, for config errors of `who`.
function M.checker(who)
  local c = {}
  for name, check in pairs(CHECKS) do
    c[name] = function(...) return check(who, ...) end
  end
  return c
end


return M
