-- Node's ws closes with 1008 "policy": on_close(self, 1008, "policy") exactly once.
local t = require("client_helper")
local peer = t.server("node", "close", "1008", "policy")
local rec = t.recorder({ url = peer.url })
t.pump_until(function() return rec.closes > 0 end, 10, "on_close")
for _ = 1, 5 do t.lunac.wait(0.02) end
t.eq(rec.closes, 1, "on_close calls")
t.eq(rec.code, 1008, "code")
t.eq(rec.reason, "policy", "reason")
t.eq(rec.events[1], "connect", "on_connect came first")
t.eq(#rec.errors, 0, "no errors")
t.check(peer.finish():find("close 1008 policy", 1, true), "the server saw its close answered")
t.done()
