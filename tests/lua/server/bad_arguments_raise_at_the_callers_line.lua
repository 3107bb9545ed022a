-- Misuse raises at the caller's line, the same for every entry point: send, publish,
-- broadcast, subscribe, close and drain, from a handler and from outside one, for type errors
-- and numbers no C integer holds as given (a fraction, a negative, past 2^32) caught in Lua,
-- and for values the library refuses (a bad opcode or close code, a reason not UTF-8).
local t = require("helper")
local luna = t.luna
local FILE = "bad_arguments_raise_at_the_callers_line.lua"
local failures = {}

-- `fn` is written on the line of the call it makes: its error must name that line.
local function at_line(fn, needle)
  local line = debug.getinfo(fn, "S").linedefined
  local ok, err = pcall(fn)
  err = tostring(err)
  if ok then
    failures[#failures + 1] = ("line %d: no error"):format(line)
  elseif not err:find(FILE .. ":" .. line .. ":", 1, true) or not err:find(needle, 1, true) then
    failures[#failures + 1] = ("line %d: expected %q at this line, got: %s"):format(line, needle, err)
  end
end

local function calls(ws, app)
  at_line(function() ws:send("x", "text") end, "ws:send: opcode must be an integer (1 TEXT, 2 BINARY, 9 PING or 10 PONG), got string \"text\"")
  at_line(function() ws:send("x", 1.5) end, "ws:send: opcode must be an integer (1 TEXT, 2 BINARY, 9 PING or 10 PONG), got number 1.5")
  at_line(function() ws:send("x", 2 ^ 32 + 1) end, "ws:send: opcode must be an integer (1 TEXT, 2 BINARY, 9 PING or 10 PONG), got number 4294967297")
  at_line(function() ws:send("x", -1) end, "ws:send: opcode must be an integer (1 TEXT, 2 BINARY, 9 PING or 10 PONG), got number -1")
  at_line(function() ws:send({}) end, "ws:send: data must be a string, got table")
  at_line(function() ws:send("x", 7) end, "ws:send: opcode 7")
  at_line(function() ws:publish(5, "x") end, "ws:publish: topic must be a string")
  at_line(function() ws:publish("t", {}) end, "ws:publish: data must be a string")
  at_line(function() ws:publish("t", "x", "text") end, "ws:publish: opcode must be an integer")
  at_line(function() app:publish("t", "x", "text") end, "app:publish: opcode must be an integer")
  at_line(function() ws:broadcast({}) end, "ws:broadcast: data must be a string")
  at_line(function() ws:broadcast("x", "text") end, "ws:broadcast: opcode must be an integer")
  at_line(function() app:broadcast("x", "text") end, "app:broadcast: opcode must be an integer")
  at_line(function() ws:publish("t", "x", 9.99) end, "ws:publish: opcode must be an integer (1 TEXT, 2 BINARY, 9 PING or 10 PONG), got number 9.99")
  at_line(function() app:broadcast("x", 2 ^ 32 + 2) end, "app:broadcast: opcode must be an integer (1 TEXT, 2 BINARY, 9 PING or 10 PONG), got number 4294967298")
  at_line(function() ws:subscribe(5) end, "ws:subscribe: topic must be a string")
  at_line(function() ws:unsubscribe({}) end, "ws:unsubscribe: topic must be a string")
  at_line(function() ws:close("x") end, "ws:close: code must be an integer")
  at_line(function() ws:close(1000, 5) end, "ws:close: reason must be a string")
  at_line(function() ws:close(1005) end, "ws:close: close code 1005")
  at_line(function() ws:close(1000.5) end, "ws:close: code must be an integer close code (1000-1003, 1007-1014 or 3000-4999), got number 1000.5")
  at_line(function() ws:close(2 ^ 32 + 1000) end, "ws:close: code must be an integer close code (1000-1003, 1007-1014 or 3000-4999), got number 4294968296")
  at_line(function() ws:close(-1) end, "ws:close: code must be an integer close code (1000-1003, 1007-1014 or 3000-4999), got number -1")
  at_line(function() ws:close(1000, "\255") end, "ws:close: close reason is not valid UTF-8")
  at_line(function() app:drain({ code = 1000.5 }) end, "app:drain: 'code' must be a close code, got number 1000.5")
  at_line(function() app:drain({ reason = "\255" }) end, "app:drain: close reason is not valid UTF-8")
end

local conn, done
local app = luna.new_web_app({ name = "args", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws)
    conn = ws
    calls(ws, ws.app)
    done = true
    ws:receive()
  end } })
local p = t.py([[
with connect(URL) as c:
    time.sleep(0.5)
]], app.port)
t.pump_until(function() return done end, 10, "the handler")
-- The same from outside any handler, as from love.update.
calls(conn, app)
p.finish()
t.check(#failures == 0, table.concat(failures, "\n"))
t.done()
