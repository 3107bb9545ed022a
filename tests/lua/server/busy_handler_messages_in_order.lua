-- Messages that arrive while the handler is busy are queued and delivered in order.
local t = require("helper")
local luna = t.luna
local got = {}
local app = luna.new_web_app({ name = "busy", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws)
    local first = ws:receive()
    got[#got + 1] = first
    t.sleep(0.5) -- the client sends 200 more meanwhile
    while true do
      local msg = ws:receive()
      if not msg then return end
      got[#got + 1] = msg
      if #got == 201 then ws:send("all") end
    end
  end } })
local p = t.py([[
with connect(URL) as c:
    c.send("0")
    for i in range(1, 201): c.send(str(i))
    print(c.recv(timeout=10))
]], app.port)
local out = p.finish(15)
t.check(out:find("all", 1, true), out)
t.eq(#got, 201, "messages received")
for i = 1, 201 do t.eq(got[i], tostring(i - 1), "message " .. i) end
t.done()
