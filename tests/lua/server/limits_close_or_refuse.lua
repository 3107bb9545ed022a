-- max_message_size closes with 1009; max_connections answers further handshakes with 503;
-- idle_timeout closes a silent peer with 1001.
local t = require("helper")
local luna = t.luna
local function sink(ws) while ws:receive() do end end
local app = luna.new_web_app({ name = "lim", host = "127.0.0.1", port = 0, max_message_size = 1000,
  max_connections = 1, protocols = { default = sink } })
local idle = luna.new_web_app({ name = "idle", host = "127.0.0.1", port = 0, idle_timeout = 0.5,
  protocols = { default = sink } })
local p = t.py([[
with connect(URL, ping_interval=None) as c:
    try:
        connect(URL, open_timeout=5); print("second accepted")
    except InvalidStatus as e:
        print("second status", e.response.status_code)
    c.send("x" * 2000); print("big code", closed_code(c)[0])
with connect("ws://127.0.0.1:%d" % int(sys.argv[2]), ping_interval=None) as c:
    print("idle code", closed_code(c)[0])
]], app.port, idle.port)
local out = p.finish(15)
t.check(out:find("second status 503", 1, true), out)
t.check(out:find("big code 1009", 1, true), out)
t.check(out:find("idle code 1001", 1, true), out)
t.done()
