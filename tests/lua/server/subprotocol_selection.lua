-- The client's protocol list is matched in its order; no match runs default; no match and
-- no default refuses the handshake with HTTP 400.
local t = require("helper")
local luna = t.luna
local function tell(ws) ws:send(tostring(ws.protocol)) end
local app = luna.new_web_app({ name = "sp", host = "127.0.0.1", port = 0,
  protocols = { chat = tell, game = tell, default = tell } })
local strict = luna.new_web_app({ name = "strict", host = "127.0.0.1", port = 0,
  protocols = { chat = tell } })
local p = t.py([[
for protos in (["x", "game", "chat"], ["chat", "game"], ["x"], None):
    with connect(URL, subprotocols=protos) as c:
        print(protos, c.subprotocol, c.recv(timeout=5))
try:
    connect("ws://127.0.0.1:%d" % int(sys.argv[2]), subprotocols=["x"], open_timeout=5)
    print("strict accepted")
except InvalidStatus as e:
    print("strict status", e.response.status_code)
with connect("ws://127.0.0.1:%d" % int(sys.argv[2]), subprotocols=["chat"]) as c:
    print("strict chat", c.recv(timeout=5))
]], app.port, strict.port)
local out = p.finish()
t.check(out:find("['x', 'game', 'chat'] game game", 1, true), out)
t.check(out:find("['chat', 'game'] chat chat", 1, true), out)
t.check(out:find("['x'] None nil", 1, true), out)
t.check(out:find("None None nil", 1, true), out)
t.check(out:find("strict status 400", 1, true), out)
t.check(out:find("strict chat chat", 1, true), out)
t.done()
