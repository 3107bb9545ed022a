-- ws:broadcast reaches only its protocol group (sender included); app:broadcast everyone.
local t = require("helper")
local luna = t.luna
local by_proto = {}
local counts = {}
local app
local function handler(ws)
  by_proto[#by_proto + 1] = ws
  while true do
    local msg = ws:receive()
    if not msg then return end
    if msg == "group" then counts.group = ws:broadcast("to-group:" .. (ws.protocol or "default")) end
    if msg == "all" then counts.all = app:broadcast("to-all") end
  end
end
app = luna.new_web_app({ name = "bc", host = "127.0.0.1", port = 0,
  protocols = { chat = handler, game = handler, default = handler } })
local p = t.py([[
a = connect(URL, subprotocols=["chat"]); b = connect(URL, subprotocols=["chat"])
g = connect(URL, subprotocols=["game"]); d = connect(URL)
time.sleep(0.3)
a.send("group")
print("a", a.recv(timeout=5)); print("b", b.recv(timeout=5))
time.sleep(0.3)
for name, c in (("g", g), ("d", d)):
    try: print(name, c.recv(timeout=0.3))
    except TimeoutError: print(name, "nothing")
g.send("all")
for name, c in (("a", a), ("b", b), ("g", g), ("d", d)): print(name, c.recv(timeout=5))
for c in (a, b, g, d): c.close()
]], app.port)
local out = p.finish(15)
t.check(out:find("a to-group:chat\nb to-group:chat\ng nothing\nd nothing\n", 1, true), out)
t.check(out:find("a to-all\nb to-all\ng to-all\nd to-all", 1, true), out)
t.eq(counts.group, 2, "ws:broadcast count")
t.eq(counts.all, 4, "app:broadcast count")
t.eq(#by_proto, 4, "connections")
t.done()
