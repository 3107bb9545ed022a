-- A server that refuses the upgrade says why in its body: error_handler and on_close's
-- reason carry the HTTP status and that body (truncated when long).
local t = require("client_helper")
local luna = t.luna
-- Our own server serves only "chat": a client asking for no subprotocol is refused with 400.
local srv = luna.new_web_app({ name = "chat-only", host = "127.0.0.1", port = 0,
  protocols = { chat = function(ws) ws:receive() end } })
local rec = t.failure_scenario({ url = ("ws://127.0.0.1:%d/"):format(srv.port) }, "HTTP status 400")
t.eq(rec.app.http_status, 400, "app.http_status")
local why = "no requested subprotocol is served here"
t.check(rec.errors[1]:find(why, 1, true), "error_handler gets the body: " .. rec.errors[1])
t.check(rec.reason:find("400", 1, true) and rec.reason:find(why, 1, true), "on_close reason: " .. rec.reason)
-- A long body is cut short.
local peer = t.server("py", "status", "403", "why", "400")
rec = t.failure_scenario({ url = peer.url, name = "long" }, "HTTP status 403")
t.check(rec.errors[1]:find("whywhywhy", 1, true), "body shown: " .. rec.errors[1])
t.check(rec.errors[1]:find("...", 1, true), "truncation marked: " .. rec.errors[1])
t.check(#rec.errors[1] < 600, "body truncated: " .. #rec.errors[1] .. " bytes")
peer.finish()
t.done()
