-- With control_frames = true, a server's ping reaches on_message with opcode 9 (and is
-- still answered).
local t = require("client_helper")
local peer = t.server("node", "ping")
local rec = t.recorder({ url = peer.url, control_frames = true })
t.pump_until(function() return #rec.messages > 0 end, 10, "the ping")
t.eq(rec.messages[1][1], "hello?", "ping payload")
t.eq(rec.messages[1][2], 9, "opcode PING")
t.pump_until(function() return peer.output():find("pong hello?", 1, true) end, 10, "the pong")
t.done()
