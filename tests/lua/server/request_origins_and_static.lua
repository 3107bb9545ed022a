-- Handlers see their handshake request (ws.method, ws.path, ws.query, ws.headers with
-- repeated headers joined); luna.parse_query decodes queries; `origins` refuses other
-- browser origins with 403 before any handler runs; `static` serves files on the same port.
local t = require("helper")
local luna = t.luna

local root = os.tmpname()
os.remove(root)
assert(os.execute("mkdir -p " .. root))
local f = assert(io.open(root .. "/index.html", "wb"))
f:write("<h1>luna static</h1>")
f:close()

local seen = {}
local function handler(ws)
  local q = luna.parse_query(ws.query)
  seen[#seen + 1] = ws
  ws:send(table.concat({ ws.method, ws.path, ws.query, q.name or "-", q.room or "-",
    ws.headers.cookie or "-", ws.headers["x-multi"] or "-", ws.headers.origin or "-" }, "|"))
end
local app = luna.new_web_app({ name = "req", host = "127.0.0.1", port = 0, static = root,
  origins = { "https://good.example" }, protocols = { default = handler } })

local p = t.py([[
import http.client
with connect(URL + "/chat/room?name=J%C3%BCrgen+M&room=7&room=8",
             additional_headers=[("Cookie", "a=1"), ("Cookie", "b=2"), ("X-Multi", "x"), ("X-Multi", "y")]) as c:
    print("plain", c.recv(timeout=5))
with connect(URL + "/", origin="https://good.example") as c:
    print("good", c.recv(timeout=5))
try:
    connect(URL + "/", origin="https://evil.example", open_timeout=5)
    print("evil accepted")
except InvalidStatus as e:
    print("evil status", e.response.status_code, e.response.body.decode().strip())
h = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
h.request("GET", "/")
r = h.getresponse()
print("static", r.status, r.getheader("Content-Type"), r.read().decode())
h.request("GET", "/../etc/passwd")
r = h.getresponse()
print("outside", r.status)
r.read()
]], app.port)
local out = p.finish()
t.check(out:find("plain GET|/chat/room|name=J%C3%BCrgen+M&room=7&room=8|Jürgen M|7|a=1; b=2|x, y|-", 1, true), out)
t.check(out:find("good GET|/||-|-|-|-|https://good.example", 1, true), out)
t.check(out:find("evil status 403 this origin may not connect", 1, true), out)
t.check(out:find("static 200 text/html; charset=utf-8 <h1>luna static</h1>", 1, true), out)
t.check(out:find("outside 400", 1, true), out)
-- The refused origin never reached a handler.
t.eq(#seen, 2, "handlers run")

local values, list = luna.parse_query("a=1&b=x%20y&a=2&flag&=v")
t.eq(values.a, "1", "first value of a repeated name")
t.eq(values.b, "x y", "decoded value")
t.eq(values.flag, "", "a name without a value")
t.eq(#list, 5, "every pair")
t.eq(list[3][2], "2", "later values keep their order")
t.raises(function() luna.parse_query(nil) end, "expected a string")
t.raises(function() luna.new_web_app({ name = "o", host = "127.0.0.1", port = 0,
  origins = "https://x", protocols = { default = handler } }) end, "'origins'")
t.raises(function() luna.new_web_app({ name = "s", host = "127.0.0.1", port = 0,
  static = { index = "i.html" }, protocols = { default = handler } }) end, "'static.root'")
local ok, err = pcall(luna.new_web_app, { name = "m", host = "127.0.0.1", port = 0,
  static = root .. "/missing", protocols = { default = handler } })
t.check(not ok and tostring(err):find("cannot be served", 1, true), tostring(err))
os.execute("rm -rf " .. root)
t.done()
