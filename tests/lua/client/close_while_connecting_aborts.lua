-- app:close() while connecting abandons the attempt at once: on_close(self, 1006, ...) once,
-- no error, and the server sees the client hang up (it never answers the upgrade).
local t = require("client_helper")
local lunac = t.lunac
local peer = t.server("py", "silent")
local rec = t.recorder({ url = peer.url, connect_timeout = 20 })
t.eq(rec.app:send("never sent"), true, "send while connecting is queued")
t.pump_until(function() return peer.output():find("accepted", 1, true) end, 5, "the TCP connection")
t.eq(rec.app.state, "connecting", "still connecting")
t.eq(rec.app:close(4000, "changed my mind"), true, "close")
t.eq(rec.app.state, "closing", "state after close")
t.pump_until(function() return rec.closes > 0 end, 3, "on_close long before the connect timeout")
t.eq(rec.code, 1006, "code")
t.eq(#rec.errors, 0, "no error for an attempt the app gave up itself")
t.eq(rec.app:close(), true, "closing again is a no-op")
for _ = 1, 5 do lunac.wait(0.02) end
t.eq(rec.closes, 1, "on_close calls")
t.check(peer.finish():find("client hung up", 1, true), "the client hung up")
t.done()
