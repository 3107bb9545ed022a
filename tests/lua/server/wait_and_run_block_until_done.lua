-- luna.wait(timeout) sleeps when idle and handles events; luna.run() returns once every app
-- is removed; app:clients() lists open connections.
local t = require("helper")
local luna = t.luna
local app
local seen_clients
app = luna.new_web_app({ name = "run", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws)
    local msg = ws:receive()
    seen_clients = #app:clients()
    ws:send("got " .. msg)
    if msg == "stop" then luna.remove_web_app(app) end
  end } })
local t0 = os.clock()
local start = os.time()
t.eq(luna.wait(0.3), false, "nothing pending")
t.check(os.clock() - t0 < 0.1, "wait sleeps instead of spinning")
t.raises(function() luna.wait(-1) end, "luna.wait: timeout must be")
local p = t.py([[
with connect(URL) as c:
    c.send("stop"); print(c.recv(timeout=5))
]], app.port)
luna.run()
t.check(os.time() - start < 10, "run returned")
t.eq(#luna.apps(), 0, "app removed by its handler")
t.eq(seen_clients, 1, "app:clients()")
local out = p.finish()
t.check(out:find("got stop", 1, true), out)
t.done()
