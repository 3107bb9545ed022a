-- Misuse of a client app raises at the caller's line, like the server's methods: a bad
-- payload or opcode to app:send (a fraction or a number past 2^32 too), a bad code or
-- reason to app:close (a reason that is not UTF-8 too).
local t = require("client_helper")
local FILE = "bad_arguments_raise_at_the_callers_line.lua"
local peer = t.server("py", "echo")
local app = t.lunac.connect_to_web_app({ url = peer.url })
t.pump_until(function() return app.state == "open" end, 10, "the connection to open")
local failures = {}

-- `fn` is written on the line of the call it makes: its error must name that line.
local function at_line(fn, needle)
  local line = debug.getinfo(fn, "S").linedefined
  local ok, err = pcall(fn)
  err = tostring(err)
  if ok or not err:find(FILE .. ":" .. line .. ":", 1, true) or not err:find(needle, 1, true) then
    failures[#failures + 1] = ("line %d: expected %q at this line, got: %s"):format(line, needle, err)
  end
end

at_line(function() app:send("x", "text") end, "app:send: opcode must be an integer")
at_line(function() app:send({}) end, "app:send: data must be a string")
at_line(function() app:send("x", 7) end, "app:send: opcode 7")
at_line(function() app:close("x") end, "app:close: code must be an integer")
at_line(function() app:close(1000, {}) end, "app:close: reason must be a string")
at_line(function() app:send("x", 1.5) end, "app:send: opcode must be an integer (1 TEXT, 2 BINARY, 9 PING or 10 PONG), got number 1.5")
at_line(function() app:send("x", 2 ^ 32 + 1) end, "app:send: opcode must be an integer (1 TEXT, 2 BINARY, 9 PING or 10 PONG), got number 4294967297")
at_line(function() app:close(1000.5) end, "app:close: code must be an integer close code (1000-1003, 1007-1014 or 3000-4999), got number 1000.5")
at_line(function() app:close(1000, "\255") end, "app:close: close reason is not valid UTF-8")
t.check(#failures == 0, table.concat(failures, "\n"))
app:close()
peer.finish()
t.done()
