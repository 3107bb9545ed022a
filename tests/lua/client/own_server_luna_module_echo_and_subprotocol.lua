-- lunac against our own server (the luna module, in this process): the requested
-- subprotocol list is negotiated (app.protocol), text/binary/empty echo, client close.
local t = require("client_helper")
local luna, lunac = t.luna, t.lunac
local server_closed
local srv = luna.new_web_app({ name = "own", host = "127.0.0.1", port = 0, protocols = {
  superchat = function(ws)
    ws.on_close = function(_, code, reason) server_closed = { code, reason } end
    while true do
      local msg, op = ws:receive()
      if not msg then return end
      ws:send(msg, op)
    end
  end } })
local rec = t.recorder({ url = ("ws://127.0.0.1:%d/"):format(srv.port), protocol = { "chat", "superchat" } })
t.eq(rec.app.protocol, nil, "no protocol before open")
t.pump_until(function() return rec.app.state == "open" end, 10, "open")
t.eq(rec.app.protocol, "superchat", "negotiated protocol")
for _, m in ipairs({ { "text", 1 }, { "\1\2\0", 2 }, { "", 1 } }) do rec.app:send(m[1], m[2]) end
t.pump_until(function() return #rec.messages == 3 end, 10, "echoes")
t.eq(rec.messages[2][1], "\1\2\0", "binary echo")
t.eq(rec.messages[3][1], "", "empty echo")
rec.app:close(3001, "bye")
t.pump_until(function() return rec.closes == 1 and server_closed end, 10, "both sides closed")
t.eq(server_closed[1], 3001, "server saw the code")
t.eq(server_closed[2], "bye", "server saw the reason")
t.eq(rec.code, 3001, "client on_close code")
t.done()
