-- A standalone server (luna.run(), no no_errors) whose handler raises: the peer sees 1011
-- before the error ends the program, the error is printed once, and it says that
-- no_errors = true keeps the server running.
local t = require("helper")
local p = t.luajit([[
local luna = require("luna")
local app = luna.new_web_app({ name = "fragile", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws) error("kaboom after " .. ws:receive()) end } })
print("PORT " .. app.port)
io.stdout:flush()
luna.run()
]])
local port = tonumber(p.wait_for("PORT (%d+)"))
local py = t.py([[
with connect(URL) as c:
    c.send("hello"); print("code", closed_code(c)[0])
]], port)
local out = py.finish()
t.check(out:find("code 1011", 1, true), "the client saw 1011: " .. out)
local rc, _, err = p.finish()
t.check(rc ~= 0, "the error ended the program")
local _, count = err:gsub("kaboom after hello", "")
t.eq(count, 1, "times the error was printed (stderr:\n" .. err .. ")")
t.check(err:find("no_errors = true", 1, true), "the message says how to keep serving:\n" .. err)
t.done()
