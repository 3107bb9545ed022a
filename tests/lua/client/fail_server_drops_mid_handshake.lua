-- The server reads the upgrade request and drops the TCP connection unanswered:
-- "connection lost during the handshake", then one on_close 1006.
local t = require("client_helper")
local peer = t.server("py", "drop")
t.failure_scenario({ url = peer.url }, "connection lost during the handshake")
t.check(peer.finish():find("dropped", 1, true), "the peer dropped the connection")
t.done()
