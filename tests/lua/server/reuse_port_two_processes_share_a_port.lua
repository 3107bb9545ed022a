-- reuse_port = true: a second LuaJIT process listens on the same port as this one, and the
-- kernel spreads new connections over both (each server answers with its own name). Without
-- reuse_port, the second bind fails with a clear error.
local t = require("helper")
local luna = t.luna

local function named(name)
  return function(ws)
    ws:send(name)
    while ws:receive() do end
  end
end

local app = luna.new_web_app({ name = "first", host = "127.0.0.1", port = 0, reuse_port = true,
  protocols = { default = named("first") } })

local second = t.luajit(([[
local luna = require("luna")
luna.new_web_app({ name = "second", host = "127.0.0.1", port = %d, reuse_port = true,
  protocols = { default = function(ws) ws:send("second"); while ws:receive() do end end } })
print("listening")
io.stdout:flush()
local deadline = os.time() + 15
while os.time() < deadline do luna.wait(0.05) end
]]):format(app.port))
second.wait_for("listening")

local p = t.py([[
seen = {}
for _ in range(60):
    with connect(URL) as c:
        name = c.recv(timeout=5)
        seen[name] = seen.get(name, 0) + 1
print("seen", " ".join("%s=%d" % kv for kv in sorted(seen.items())))
]], app.port)
local out = p.finish(20)
t.check(out:find("first=%d+"), out)
t.check(out:find("second=%d+"), out)

-- Without it the port is taken.
local ok, err = pcall(luna.new_web_app, { name = "third", host = "127.0.0.1", port = app.port,
  protocols = { default = named("third") } })
t.check(not ok and tostring(err):find("cannot listen on 127.0.0.1:" .. app.port, 1, true), tostring(err))
t.raises(function()
  luna.new_web_app({ name = "bad", host = "127.0.0.1", port = 0, reuse_port = "yes",
    protocols = { default = named("bad") } })
end, "'reuse_port' must be a boolean")
t.done()
