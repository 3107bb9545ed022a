-- remove_web_app by name and by object: connections get 1001, on_close fires, a pending
-- receive wakes, the port can be bound again at once; unknown or removed apps: nil, "no such app".
local t = require("helper")
local luna = t.luna
local woke, closes = nil, {}
local function handler(ws)
  ws.on_close = function(_, code, reason) closes[#closes + 1] = code .. " " .. reason end
  woke = { ws:receive() }
end
local app = luna.new_web_app({ name = "one", host = "127.0.0.1", port = 0, protocols = { default = handler } })
local port = app.port
local p = t.py([[
with connect(URL) as c:
    print("ready", flush=True); print("code", closed_code(c)[0])
]], port)
t.pump_until(function() return #app:clients() == 1 end, 10, "the client")
t.eq(luna.remove_web_app("one"), true, "remove by name")
t.eq(#closes, 1, "on_close fired during remove")
t.eq(closes[1], "1001 going away", "close code and reason")
t.check(woke and woke[1] == nil and woke[4] == 1001, "pending receive woke with the close")
local out = p.finish()
t.check(out:find("code 1001", 1, true), out)
local again = luna.new_web_app({ name = "one", host = "127.0.0.1", port = port, protocols = { default = handler } })
t.eq(again.port, port, "port reused at once")
t.eq(luna.remove_web_app(again), true, "remove by object")
local ok, err = luna.remove_web_app(again)
t.eq(ok, nil, "second remove")
t.eq(err, "no such app", "second remove error")
ok, err = luna.remove_web_app("never-was")
t.eq(err, "no such app", "unknown name")
t.raises(function() luna.remove_web_app(42) end, "expected an app or its name")
-- app:close() and luna.close() as well
local a = luna.new_web_app({ name = "a", host = "127.0.0.1", port = 0, protocols = { default = handler } })
t.eq(a:close(), true, "app:close")
luna.new_web_app({ name = "b", host = "127.0.0.1", port = 0, protocols = { default = handler } })
luna.new_web_app({ name = "c", host = "127.0.0.1", port = 0, protocols = { default = handler } })
luna.close()
t.eq(#luna.apps(), 0, "luna.close removes every app")
t.done()
