-- With control_frames = true, receive() also returns PING payloads (opcode 9); by default
-- pings are answered and not returned.
local t = require("helper")
local luna = t.luna
local got = { on = {}, off = {} }
local function recorder(list)
  return function(ws)
    while true do
      local m, op = ws:receive()
      if not m then return end
      list[#list + 1] = op .. ":" .. m
    end
  end
end
local on = luna.new_web_app({ name = "on", host = "127.0.0.1", port = 0, control_frames = true,
  protocols = { default = recorder(got.on) } })
local off = luna.new_web_app({ name = "off", host = "127.0.0.1", port = 0,
  protocols = { default = recorder(got.off) } })
local p = t.py([[
for port in (PORT, int(sys.argv[2])):
    with connect("ws://127.0.0.1:%d" % port, ping_interval=None) as c:
        c.ping(b"hb").wait(5); c.send("after"); print("pong ok")
]], on.port, off.port)
p.finish()
t.pump_until(function() return #got.off == 1 end, 5, "the message")
t.eq(table.concat(got.on, ","), "9:hb,1:after", "with control_frames")
t.eq(table.concat(got.off, ","), "1:after", "without control_frames")
t.done()
