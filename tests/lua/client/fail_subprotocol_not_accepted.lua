-- The server upgrades but picks none of the requested subprotocols: "subprotocol not
-- accepted", then one on_close 1006.
local t = require("client_helper")
local peer = t.server("py", "noproto")
t.failure_scenario({ url = peer.url, protocol = { "chat", "superchat" } }, "subprotocol not accepted")
local out = peer.finish()
t.check(out:find("subprotocol None", 1, true), out)
t.done()
