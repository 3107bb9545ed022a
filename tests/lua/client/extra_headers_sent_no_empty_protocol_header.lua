-- `headers` reach the server as request headers; without `protocol` no
-- Sec-WebSocket-Protocol header is sent (not even an empty one, unlike the original Lunac).
local t = require("client_helper")
local peer = t.server("py", "echo")
local rec = t.recorder({ url = peer.url, headers = { ["X-Token"] = "abc 123", ["X-Num"] = 5 } })
t.pump_until(function() return rec.app.state == "open" end, 10, "open")
rec.app:close()
local out = peer.finish()
-- Header names are case-insensitive (the C side sends them in lower case).
t.check(out:lower():find("header x-token: abc 123", 1, true), out)
t.check(out:lower():find("header x-num: 5", 1, true), out)
t.check(not out:lower():find("sec-websocket-protocol", 1, true), "no protocol header:\n" .. out)
t.eq(rec.app.protocol, nil, "no protocol")
t.done()
