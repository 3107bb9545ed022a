-- app:drain{ timeout, code, reason }: the port is closed at once, each connection gets the
-- messages sent to it before the drain and then the drain's close, and once every connection
-- is closed the app is removed (luna.run returns). Bad arguments raise.
local t = require("helper")
local luna = t.luna
local opened = {}
local app = luna.new_web_app({ name = "draining", host = "127.0.0.1", port = 0,
  protocols = { default = function(ws)
    opened[#opened + 1] = ws
    while ws:receive() do end
  end } })
local p = t.py([[
clients = [connect(URL) for _ in range(3)]
print("connected", flush=True)
for i, c in enumerate(clients):
    got = [c.recv(timeout=10) for _ in range(100)]
    print("client", i, "in order:", got == ["m%d" % n for n in range(100)])
    print("client", i, "close", closed_code(c))
]], app.port)
t.pump_until(function() return #opened == 3 end, 10, "three connections")
for _, ws in ipairs(opened) do
  for n = 0, 99 do assert(ws:send("m" .. n)) end
end
t.eq(app:drain({ timeout = 1, reason = "restart" }), true, "drain")
local probe = io.popen(("%s -c 'import socket; socket.create_connection((\"127.0.0.1\", %d), timeout=2)' 2>&1; echo rc=$?")
  :format(t.python, app.port)):read("*a")
t.check(probe:find("refused", 1, true), "the port is closed: " .. probe)
local ran = luna.run()
t.eq(ran, nil, "run returns once the drained app is removed")
local out = p.finish(20)
for i = 0, 2 do
  t.check(out:find(("client %d in order: True"):format(i), 1, true), out)
  t.check(out:find(("client %d close (1001, 'restart')"):format(i), 1, true), out)
end
t.eq(#luna.apps(), 0, "no app left")
local other = luna.new_web_app({ name = "other", host = "127.0.0.1", port = 0,
  protocols = { default = function() end } })
t.raises(function() other:drain({ code = 70000 }) end, "'code' must be a close code")
t.raises(function() other:drain({ code = 999 }) end, "app:drain")
t.raises(function() other:drain("now") end, "expected a table")
t.done()
