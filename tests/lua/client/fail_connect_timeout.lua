-- A listener accepts TCP but never answers: after connect_timeout (0.5 s) "connect timeout",
-- then one on_close 1006; the client hangs up.
local t = require("client_helper")
local peer = t.server("py", "silent")
local started = os.clock() + os.time()
local rec = t.failure_scenario({ url = peer.url, connect_timeout = 0.5 }, "connect timeout", 5)
t.check(rec.errors[1]:find("500 ms", 1, true), "the message gives the limit: " .. rec.errors[1])
t.check(peer.finish():find("client hung up", 1, true), "the client closed its socket")
t.done()
