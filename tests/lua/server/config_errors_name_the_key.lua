-- Bad config raises a Lua error that names the key and what was expected, even with no_errors.
local t = require("helper")
local luna = t.luna
local h = { default = function() end }

local function base(over)
  local c = { name = "cfg", host = "127.0.0.1", port = 0, protocols = h }
  for k, v in pairs(over) do c[k] = v end
  return c
end

local msg = t.raises(function() luna.new_web_app(base({ port = "abc" })) end, "'port'")
t.eq(msg:match("luna%.new_web_app:.*$"), "luna.new_web_app: 'port' must be an integer 0..65535, got string \"abc\"", "message")
t.raises(function() luna.new_web_app(base({ port = 70000 })) end, "'port' must be an integer 0..65535, got number 70000")
t.raises(function() luna.new_web_app(base({ port = 1.5 })) end, "'port'")
t.raises(function() luna.new_web_app({ name = "x", host = "127.0.0.1", protocols = h }) end, "'port' must be an integer 0..65535, got nil")
t.raises(function() luna.new_web_app(base({ name = 5 })) end, "'name' must be a non-empty string, got number 5")
t.raises(function() luna.new_web_app(base({ host = false })) end, "'host' must be a non-empty string")
t.raises(function() luna.new_web_app(base({ protocols = "x" })) end, "'protocols' must be a table")
t.raises(function() luna.new_web_app(base({ protocols = {} })) end, "'protocols' must be a table with at least one handler")
t.raises(function() luna.new_web_app(base({ protocols = { chat = 1 } })) end, "'protocols.chat' must be a handler function")
t.raises(function() luna.new_web_app(base({ debug = "yes" })) end, "'debug' must be a boolean")
t.raises(function() luna.new_web_app(base({ no_errors = 1 })) end, "'no_errors' must be a boolean")
t.raises(function() luna.new_web_app(base({ error_handler = "print" })) end, "'error_handler' must be a function")
t.raises(function() luna.new_web_app(base({ max_message_size = -1 })) end, "'max_message_size' must be an integer")
t.raises(function() luna.new_web_app(base({ max_connections = "10" })) end, "'max_connections' must be an integer")
t.raises(function() luna.new_web_app(base({ handshake_timeout = -2 })) end, "'handshake_timeout' must be a number of seconds")
-- A positive timeout that would round to 0 ms (= off) is refused, not silently unlimited.
t.raises(function() luna.new_web_app(base({ handshake_timeout = 0.0001 })) end, "'handshake_timeout' must be 0 (off) or at least 0.001 seconds")
t.raises(function() luna.new_web_app(base({ idle_timeout = 0.0004 })) end, "'idle_timeout' must be 0 (off) or at least 0.001 seconds")
t.raises(function() luna.new_web_app(base({ max_http_connections = 0 })) end, "'max_http_connections' must be an integer")
t.raises(function() luna.new_web_app(base({ max_body_memory = -1 })) end, "'max_body_memory' must be an integer")
t.raises(function() luna.new_web_app(base({ idle_timeout = "1" })) end, "'idle_timeout' must be a number of seconds")
t.raises(function() luna.new_web_app(base({ max_queued_messages = 0 })) end, "'max_queued_messages' must be an integer")
t.raises(function() luna.new_web_app(base({ control_frames = "on" })) end, "'control_frames' must be a boolean")
t.raises(function() luna.new_web_app(base({ close_timeout = "1" })) end, "'close_timeout' must be a number of seconds")
t.raises(function() luna.new_web_app(base({ read_buffer_size = 1.5 })) end, "'read_buffer_size' must be an integer")
-- Subprotocol names are checked by the library, whose message is included.
t.raises(function() luna.new_web_app(base({ protocols = { ["not ok"] = h.default } })) end, "subprotocol name 'not ok' is not a valid token")
t.raises(function() luna.new_web_app(base({ ssl = "yes" })) end, "'ssl' must be a table")
t.raises(function() luna.new_web_app(base({ ssl = { key = "/nonexistent.key", cert = "/nonexistent.crt" } })) end, "cannot read")
t.raises(function() luna.new_web_app(base({ prot = h })) end, "unknown key 'prot'")
t.raises(function() luna.new_web_app(nil) end, "config must be a table, got nil")
-- Strings cross to the library NUL-terminated: a NUL is refused, never cut there.
t.raises(function() luna.new_web_app(base({ host = "127.0.0.1\0.evil" })) end, "'host' must be a string without NUL bytes")
t.raises(function() luna.new_web_app(base({ origins = { "http://a\0b" } })) end, "'origins[1]' must be a string without NUL bytes")
t.raises(function() luna.new_web_app(base({ static = "public\0/../.." })) end, "'static' must be a string without NUL bytes")
t.raises(function() luna.new_web_app(base({ protocols = { ["chat\0x"] = h.default } })) end, "'protocols' must be a string without NUL bytes")
-- Misuse raises even with no_errors; the error points at the caller's line.
local err = t.raises(function() luna.new_web_app(base({ no_errors = true, port = "abc" })) end, "'port'")
t.check(err:find("config_errors_name_the_key.lua", 1, true), "error position is the caller: " .. err)
-- Nothing was left behind: the name is free.
local app = luna.new_web_app(base({}))
t.check(app.port > 0, "port 0 picks a free port")
t.done()
