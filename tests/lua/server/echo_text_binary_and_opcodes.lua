-- A handler echoes TEXT and BINARY with their opcodes; opcodes tables match the seed.
local t = require("helper")
local luna = t.luna
local want = { CONTINUATION = 0, TEXT = 1, BINARY = 2, CLOSE = 8, PING = 9, PONG = 10 }
for k, v in pairs(want) do t.eq(luna.opcodes[k], v, "luna.opcodes." .. k) end

local got = {}
local app
app = luna.new_web_app({ name = "echo", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws)
    while true do
      local msg, op = ws:receive()
      if not msg then return end
      got[#got + 1] = { msg, op }
      t.eq(ws:send(msg, op), true, "send")
    end
  end } })
for k, v in pairs(want) do t.eq(app.opcodes[k], v, "app.opcodes." .. k) end
t.eq(app.name, "echo", "app.name")
t.eq(app.host, "127.0.0.1", "app.host")

local p = t.py([[
with connect(URL) as c:
    c.send("héllo"); print(repr(c.recv(timeout=5)))
    c.send(b"\x00\xffbin"); print(repr(c.recv(timeout=5)))
]], app.port)
local out = p.finish()
t.check(out:find("'héllo'", 1, true), out)
t.check(out:find("b'\\x00\\xffbin'", 1, true), out)
t.eq(got[1][2], 1, "TEXT opcode")
t.eq(got[2][1], "\0\255bin", "binary payload")
t.eq(got[2][2], 2, "BINARY opcode")
t.done()
