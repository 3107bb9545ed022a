-- A client's config: the table given to lunac.connect_to_web_app checked (types, and what
-- the C config cannot carry) and turned into a LunaClientConfig. The library checks the URL
-- and the subprotocol names.
local ffi = require("ffi")
local C = require("luna.lib").load()
local result = require("luna.errors").result
local check_module = require("luna.check")

local ffi_new = ffi.new
local type, tostring, pairs, ipairs = type, tostring, pairs, ipairs
local format, sort = string.format, table.sort
local open = io.open
local checker, header_lines = check_module.checker, check_module.header_lines
local is_integer = check_module.is_integer
local c_strings = check_module.c_strings
local LIMIT_KEYS = check_module.LIMIT_KEYS

local WHO = "lunac.connect_to_web_app"

local M = {}


local check = checker(WHO)

local KNOWN = {
  name = true, url = true, debug = true, no_errors = true, error_handler = true, protocol = true,
  ssl = true, on_connect = true, on_message = true, on_close = true, headers = true,
  connect_timeout = true, reconnect = true, resume = true,
}
for _, key in ipairs(LIMIT_KEYS) do KNOWN[key] = true end


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
  local lines, problem = header_lines(headers)
  if not lines then
    check.fail("'headers': " .. problem)
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


-- `reconnect = true` takes these; a table changes any of them. Delays in seconds.
local RECONNECT_DEFAULTS = { min_delay = 0.5, max_delay = 30, max_attempts = math.huge }

local function check_reconnect(option)
  if option == nil or option == false then
    return nil
  elseif option ~= true and type(option) ~= "table" then
    check.bad("reconnect", "true or a table { min_delay, max_delay, max_attempts }", option)
  end
  local settings = {}
  for key, default in pairs(RECONNECT_DEFAULTS) do settings[key] = default end
  if option == true then
    return settings
  end
  for key, value in pairs(option) do
    if RECONNECT_DEFAULTS[key] == nil then
      check.fail(format("unknown key 'reconnect.%s'", tostring(key)))
    elseif type(value) ~= "number" or value ~= value or value < 0 then
      check.bad("reconnect." .. key, "a number >= 0", value)
    end
    settings[key] = value
  end
  if settings.min_delay <= 0 then
    check.bad("reconnect.min_delay", "a number of seconds > 0", settings.min_delay)
  elseif settings.max_delay < settings.min_delay then
    check.fail("'reconnect.max_delay' must be at least 'reconnect.min_delay'")
  end
  return settings
end


-- With reconnect, a client asks a luna server for a session it can resume, unless `resume`
-- is false; `buffer` bounds what it keeps of its sent messages for a resend.
local RESUME_BUFFER = 1024 * 1024

local function check_resume(option, reconnecting)
  if option == false or (option == nil and not reconnecting) then
    return nil
  elseif option ~= true and option ~= nil and type(option) ~= "table" then
    check.bad("resume", "a boolean or a table { buffer }", option)
  elseif not reconnecting then
    check.fail("'resume' needs 'reconnect': a session is resumed by reconnecting")
  end
  local buffer = RESUME_BUFFER
  if type(option) == "table" then
    for key in pairs(option) do
      if key ~= "buffer" then
        check.fail(format("unknown key 'resume.%s'", tostring(key)))
      end
    end
    buffer = option.buffer == nil and RESUME_BUFFER or option.buffer
    if not is_integer(buffer, 1, 2 ^ 52) then
      check.bad("resume.buffer", "an integer number of bytes >= 1", buffer)
    end
  end
  return { buffer = buffer }
end


-- Checks types; returns the C config, the Lua values it points into (keep them alive) and
-- the settings that stay in Lua ({ reconnect, resume, max_send_queue }).
-- The URL and the subprotocol names are checked by the library.
function M.prepare(config)
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
  plist, cfg.protocol_count = c_strings(protocols)
  hlist, cfg.header_count = c_strings(headers)
  cfg.protocols, cfg.headers = plist, hlist
  cfg.connect_timeout_ms = check.millis(config, "connect_timeout", cfg.connect_timeout_ms)
  check.limits(config, cfg)
  cfg.tls_verify = ssl.verify == false and 0 or 1
  cfg.tls_ca_file, cfg.tls_cert_file, cfg.tls_key_file = ssl.cafile, ssl.cert, ssl.key
  local reconnect = check_reconnect(config.reconnect)
  return cfg, { plist, hlist, protocols, headers, ssl, config.url },
    { reconnect = reconnect, resume = check_resume(config.resume, reconnect ~= nil),
      max_send_queue = tonumber(cfg.max_send_queue) }
end


return M
