-- disconnect_to_web_app by name and by object: each closes with 1000, fires on_close once
-- before it returns, forgets the app (its name is free again); a second call answers
-- nil, "no such app".
local t = require("client_helper")
local lunac = t.lunac
local peer = t.server("node", "echo", "2")
local a = t.recorder({ url = peer.url, name = "by name" })
local b = t.recorder({ url = peer.url, name = "by object" })
t.pump_until(function() return a.app.state == "open" and b.app.state == "open" end, 10, "both open")
t.eq(#lunac.apps(), 2, "two live apps")
t.eq(lunac.disconnect_to_web_app("by name"), true, "by name")
t.eq(a.closes, 1, "on_close fired by disconnect (name)")
t.eq(a.code, 1000, "code (name)")
t.eq(lunac.disconnect_to_web_app(b.app), true, "by object")
t.eq(b.closes, 1, "on_close fired by disconnect (object)")
t.eq(b.code, 1000, "code (object)")
t.eq(#lunac.apps(), 0, "no live apps")
local again, err = lunac.disconnect_to_web_app("by name")
t.eq(again, nil, "second disconnect by name")
t.eq(err, "no such app", "second disconnect error")
t.eq(select(2, lunac.disconnect_to_web_app(b.app)), "no such app", "second disconnect by object")
t.eq(select(2, b.app:send("x")), "closed", "send after disconnect")
for _ = 1, 5 do lunac.wait(0.02) end
t.eq(a.closes + b.closes, 2, "no further on_close")
local out = peer.finish()
local _, n = out:gsub("close 1000", "")
t.eq(n, 2, "the server saw two 1000 closes:\n" .. out)
-- The name is free again.
local c = t.recorder({ url = peer.url, name = "by name", no_errors = true })
t.eq(c.app.name, "by name", "name reused")
t.done()
