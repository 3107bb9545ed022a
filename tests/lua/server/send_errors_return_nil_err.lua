-- ws:send returns nil, err for invalid UTF-8 TEXT and closed connections; it raises for
-- misuse: a non-string payload or a bad opcode (at the caller's line); close validates its
-- code and reason.
local t = require("helper")
local luna = t.luna
local conn, results = nil, {}
local app = luna.new_web_app({ name = "send", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws)
    conn = ws
    local r = results
    r.bad_op = select(2, pcall(function() ws:send("x", 7) end))
    r.bad_utf8 = { ws:send("\255\254", 1) }
    r.binary_ok = { ws:send("\255\254", 2) }
    r.raise_table = select(2, pcall(ws.send, ws, {}))
    r.bad_code = select(2, pcall(ws.close, ws, 1005))
    r.long_reason = select(2, pcall(ws.close, ws, 1000, string.rep("x", 124)))
    ws:receive()
    r.after_close = { ws:send("late") }
    r.close_again = ws:close()
  end } })
local p = t.py([[
with connect(URL) as c:
    print(repr(c.recv(timeout=5)))
]], app.port)
p.finish()
t.pump_until(function() return results.after_close end, 10, "the handler to see the close")
t.check(tostring(results.bad_op):find("ws:send: opcode 7", 1, true), results.bad_op)
t.check(tostring(results.bad_op):find("send_errors_return_nil_err.lua:", 1, true), "raised at the caller: " .. tostring(results.bad_op))
t.eq(results.bad_utf8[1], nil, "invalid UTF-8 text result")
t.check(results.bad_utf8[2]:lower():find("utf", 1, true), results.bad_utf8[2])
t.eq(results.binary_ok[1], true, "the same bytes as BINARY")
t.check(tostring(results.raise_table):find("data must be a string", 1, true), results.raise_table)
t.check(tostring(results.bad_code):find("ws:close: close code 1005 cannot be sent", 1, true), results.bad_code)
t.check(tostring(results.long_reason):find("longer than 123 bytes", 1, true), results.long_reason)
t.eq(results.after_close[1], nil, "send after close")
t.eq(results.after_close[2], "closed", "send after close error")
t.eq(results.close_again, true, "close on a closed ws is a no-op")
-- From outside any handler (like love.update) too.
local ok, err = conn:send("x")
t.eq(ok, nil, "send from main on closed ws")
t.eq(err, "closed", "error")
t.done()
