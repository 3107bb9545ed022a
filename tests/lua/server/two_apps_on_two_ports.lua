-- Two apps serve on two ports at the same time, each with its own handlers.
local t = require("helper")
local luna = t.luna
local function echo_with(prefix)
  return function(ws)
    while true do
      local m = ws:receive()
      if not m then return end
      ws:send(prefix .. m)
    end
  end
end
local a = luna.new_web_app({ name = "A", host = "127.0.0.1", port = 0, protocols = { default = echo_with("A:") } })
local b = luna.new_web_app({ name = "B", host = "*", port = 0, protocols = { default = echo_with("B:") } })
t.check(a.port ~= b.port, "different ports")
local p = t.py([[
a = connect(URL); b = connect("ws://127.0.0.1:%d" % int(sys.argv[2]))
a.send("x"); b.send("y"); print(a.recv(timeout=5), b.recv(timeout=5))
a.close(); b.close()
]], a.port, b.port)
local out = p.finish()
t.check(out:find("A:x B:y", 1, true), out)
t.done()
