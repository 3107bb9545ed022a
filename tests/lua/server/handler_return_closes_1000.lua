-- When the handler returns, the connection is closed with 1000.
local t = require("helper")
local luna = t.luna
local closed
local app = luna.new_web_app({ name = "ret", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws)
    ws.on_close = function(_, code) closed = code end
    ws:send("bye")
  end } })
local p = t.py([[
with connect(URL) as c:
    print(c.recv(timeout=5)); print("code", closed_code(c)[0])
]], app.port)
local out = p.finish()
t.check(out:find("bye\ncode 1000", 1, true), out)
t.pump_until(function() return closed end, 5, "on_close")
t.eq(closed, 1000, "on_close code")
t.done()
