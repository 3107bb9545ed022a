-- The server answers 404 instead of 101: "HTTP status 404", app.http_status, one on_close 1006.
local t = require("client_helper")
local peer = t.server("py", "status", "404")
local rec = t.failure_scenario({ url = peer.url .. "/nowhere" }, "HTTP status 404")
t.eq(rec.app.http_status, 404, "app.http_status")
t.eq(rec.app.failure, "HTTP status 404", "app.failure")
peer.finish()
t.done()
