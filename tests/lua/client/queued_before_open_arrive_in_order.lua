-- Messages sent while connecting are queued and reach the server in order once it opens.
local t = require("client_helper")
local peer = t.server("py", "echo")
local rec = t.recorder({ url = peer.url })
t.eq(rec.app.state, "connecting", "still connecting")
for i = 1, 100 do
  t.eq(rec.app:send("m" .. i, i % 2 == 0 and rec.app.opcodes.BINARY or nil), true, "queued send " .. i)
end
t.pump_until(function() return #rec.messages == 100 end, 10, "100 echoes")
for i = 1, 100 do
  t.eq(rec.messages[i][1], "m" .. i, "echo " .. i)
  t.eq(rec.messages[i][2], i % 2 == 0 and 2 or 1, "opcode of echo " .. i)
end
t.eq(rec.events[1], "connect", "on_connect before the first message")
t.done()
