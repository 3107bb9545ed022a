-- send, publish and broadcast share one check of a message: each takes a number as its text,
-- sends text when no opcode is given, and refuses a bad payload or opcode with the same
-- words, naming itself.
local t = require("helper")
local luna = t.luna
local refusals = 0
local counts = {}
local app

-- Every message the method `who` refuses, through `call(data, opcode)`.
local function misuse(who, call)
  for _, case in ipairs({ { true, nil, "data must be a string, got boolean true" },
      { "x", "text", 'opcode must be an integer (1 TEXT, 2 BINARY, 9 PING or 10 PONG), got string "text"' } }) do
    local ok, err = pcall(call, case[1], case[2])
    t.check(not ok and tostring(err):find(who .. ": " .. case[3], 1, true), tostring(err))
    refusals = refusals + 1
  end
end

app = luna.new_web_app({ name = "alike", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws)
    ws:subscribe("t")
    ws:receive()
    t.check(ws:send(42), "ws:send of a number")
    counts.publish = app:publish("t", 43)
    counts.broadcast = ws:broadcast(44)
    counts.binary = app:broadcast(45, luna.opcodes.BINARY)
    misuse("ws:send", function(d, o) return ws:send(d, o) end)
    misuse("ws:publish", function(d, o) return ws:publish("t", d, o) end)
    misuse("app:publish", function(d, o) return app:publish("t", d, o) end)
    misuse("ws:broadcast", function(d, o) return ws:broadcast(d, o) end)
    misuse("app:broadcast", function(d, o) return app:broadcast(d, o) end)
    ws:receive()
  end } })
local p = t.py([[
c = connect(URL)
c.send("go")
for _ in range(4): print(repr(c.recv(timeout=5)))
c.close()
]], app.port)
local out = p.finish(15)
t.eq(out, "'42'\n'43'\n'44'\nb'45'\n", "what the client received")
t.eq(counts.publish, 1, "app:publish count")
t.eq(counts.broadcast, 1, "ws:broadcast count")
t.eq(counts.binary, 1, "app:broadcast count")
t.eq(refusals, 10, "refusals")
t.done()
