-- lunac.run() blocks until every client has closed; lunac.wait(timeout) sleeps, not spins,
-- and answers false when nothing happened.
local t = require("client_helper")
local lunac = t.lunac
local t0 = os.time()
t.eq(lunac.wait(0.3), false, "wait with no clients")
local peer = t.server("py", "close", "1001", "bye")
local rec = t.recorder({ url = peer.url })
local c0 = os.clock()
lunac.run()
t.eq(rec.closes, 1, "closed when run returned")
t.eq(rec.code, 1001, "code")
t.eq(#lunac.apps(), 0, "no clients left")
t.check(os.clock() - c0 < 1, "run slept instead of spinning (CPU " .. (os.clock() - c0) .. " s)")
peer.finish()
t.done()
