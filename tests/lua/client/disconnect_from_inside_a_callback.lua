-- disconnect_to_web_app(self) from inside on_message: the rest of the batch is still
-- delivered, then on_close fires once within the same update; the app is forgotten.
local t = require("client_helper")
local lunac = t.lunac
local peer = t.server("py", "echo")
local got, closes, code = {}, 0, nil
local app = lunac.connect_to_web_app({ url = peer.url, name = "inside",
  on_connect = function(self) for i = 1, 3 do self:send("m" .. i) end end,
  on_message = function(self, msg)
    got[#got + 1] = msg
    if msg == "m1" then t.eq(lunac.disconnect_to_web_app(self), true, "disconnect inside") end
  end,
  on_close = function(self, c) closes, code = closes + 1, c end })
t.pump_until(function() return closes > 0 end, 10, "on_close")
t.eq(got[1], "m1", "first message")
t.eq(code, 1000, "close code")
t.eq(#lunac.apps(), 0, "forgotten")
for _ = 1, 5 do lunac.wait(0.02) end
t.eq(closes, 1, "on_close calls")
t.check(peer.finish():find("close 1000", 1, true), "the server saw 1000")
t.done()
