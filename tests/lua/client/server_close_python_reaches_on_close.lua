-- Python websockets closes with 4000 "see you": on_close(self, 4000, "see you") once, clean.
local t = require("client_helper")
local peer = t.server("py", "close", "4000", "'see you'")
local self_seen
local rec = t.recorder({ url = peer.url, on_close = function(self, code, reason)
  self_seen = self
end })
t.pump_until(function() return self_seen end, 10, "on_close")
t.eq(self_seen, rec.app, "on_close gets the app as self")
t.eq(rec.app.close_code, 4000, "code")
t.eq(rec.app.close_reason, "see you", "reason")
t.eq(rec.app.was_clean, true, "clean")
t.eq(rec.app.state, "closed", "state")
t.check(peer.finish():find("closed 4000", 1, true), "the server's close was answered")
t.done()
