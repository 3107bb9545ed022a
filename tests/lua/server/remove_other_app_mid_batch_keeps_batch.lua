-- A handler that removes another app while its own batch is being dispatched (removing
-- dispatches the other app's pending events) loses none of its own batch's messages.
local t = require("helper")
local luna = t.luna
local got = {}
local other
-- Created first, so each update polls it before the other app.
local main = luna.new_web_app({ name = "main", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws)
    while true do
      local msg = ws:receive()
      if not msg then return end
      got[#got + 1] = msg
      if msg == "1" then luna.remove_web_app(other) end
    end
  end } })
other = luna.new_web_app({ name = "other", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws) while ws:receive() do end end } })
local a = t.py([[
with connect(URL) as c:
    time.sleep(1.5)
    for i in range(40):
        c.send("other %d" % i)
    time.sleep(3)
]], other.port)
local b = t.py([[
with connect(URL) as c:
    time.sleep(1.5)
    for i in range(1, 21):
        c.send(str(i))
    time.sleep(3)
]], main.port)
t.pump_until(function() return #other:clients() == 1 and #main:clients() == 1 end, 10, "both clients")
-- Both send meanwhile: the next update finds both apps' messages pending.
t.sleep(2.5)
t.pump_until(function() return #got == 20 end, 10, "20 messages, got " .. #got)
for i = 1, 20 do t.eq(got[i], tostring(i), "message " .. i) end
b.finish()
t.done()
