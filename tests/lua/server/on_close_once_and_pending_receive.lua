-- on_close fires once as ws:on_close(code, reason); a pending receive() then returns
-- nil, nil, was_clean, code, reason; getpeername and tostring still answer after close.
local t = require("helper")
local luna = t.luna
local calls, result, conn, order = {}, nil, nil, {}
local app = luna.new_web_app({ name = "onclose", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws)
    conn = ws
    ws.on_close = function(self, code, reason)
      calls[#calls + 1] = { self, code, reason }
      order[#order + 1] = "on_close"
    end
    result = { ws:receive() }
    order[#order + 1] = "receive"
    ws:close()
  end } })
local p = t.py([[
c = connect(URL)
print("local", c.local_address[1])
c.close(4000, "bye")
]], app.port)
local out = p.finish()
t.pump_until(function() return result end, 10, "the handler to wake")
luna.update(0)
t.eq(#calls, 1, "on_close calls")
t.eq(calls[1][1], conn, "on_close self")
t.eq(calls[1][2], 4000, "on_close code")
t.eq(calls[1][3], "bye", "on_close reason")
t.eq(order[1], "on_close", "on_close before the receive returns")
t.eq(result[1], nil, "message")
t.eq(result[2], nil, "opcode")
t.eq(result[3], true, "was_clean")
t.eq(result[4], 4000, "code")
t.eq(result[5], "bye", "reason")
t.eq(conn.state, "closed", "state")
local ip, port = conn:getpeername()
t.eq(ip, "127.0.0.1", "peer ip after close")
t.eq(port, tonumber(out:match("local (%d+)")), "peer port after close")
t.eq(tostring(conn), ("ws#%d(127.0.0.1:%d)"):format(conn.id, port), "tostring")
local rip, rport = conn.raw_socket:getpeername()
t.eq(rip .. rport, ip .. port, "raw_socket:getpeername after close")
t.eq(#app:clients(), 0, "no clients left")
t.done()
