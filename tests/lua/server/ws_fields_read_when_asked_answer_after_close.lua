-- The fields of ws that come from the handshake and the socket (method, path, query, headers,
-- compressed, raw_socket and its addresses, the peer) are read when first asked: a handler
-- that asks only after its connection closed, or only in on_close, still gets them; one that
-- never asks gets the same answers from a connection that asked at once.
local t = require("helper")
local luna = t.luna

local function snapshot(ws)
  return {
    method = ws.method, path = ws.path, query = ws.query, ua = ws.headers["user-agent"],
    custom = ws.headers["x-luna-test"], compressed = ws.compressed, tls = ws.raw_socket.tls,
    sock_port = select(2, ws.raw_socket:getsockname()), peer = ws:getpeername(),
    str = tostring(ws), resumed = ws.resumed,
  }
end

local seen = {}
local app = luna.new_web_app({ name = "lazy", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws)
    local mode = ws.query -- this handler asks at once; the others wait
    seen[mode] = { early = snapshot(ws) }
    while ws:receive() do end
    seen[mode].late = snapshot(ws)
  end,
  late = function(ws)
    local rec = {}
    ws.on_close = function(self) rec.on_close = snapshot(self) end
    while ws:receive() do end
    rec.late = snapshot(ws)
    seen.late = rec
  end,
  never = function(ws)
    -- Asks nothing before the close, not even in the loop.
    local rec = {}
    seen.never = rec
    ws.on_close = function(self) rec.on_close = snapshot(self) end
    while ws:receive() do end
  end,
} })

local p = t.py([[
H = {"X-Luna-Test": "yes"}
for q, proto in (("at-once", None), ("late", "late"), ("never", "never")):
    with connect(URL + "/room?" + q, additional_headers=H,
                 subprotocols=[proto] if proto else None) as c:
        c.send("x"); time.sleep(0.1)
    time.sleep(0.1)
]], app.port)
p.finish(15)
t.pump_until(function()
  return seen["at-once"] and seen["at-once"].late and seen.late and seen.late.late
    and seen.never and seen.never.on_close
end, 10, "three handlers to see their close")

local function same(got, want, what)
  for key, value in pairs(want) do
    if key ~= "str" then -- it names the peer's port, another for each connection
      t.eq(got[key], value, what .. " " .. key)
    end
  end
end

local early = seen["at-once"].early
t.eq(early.method, "GET", "method")
t.eq(early.path, "/room", "path")
t.eq(early.query, "at-once", "query")
t.eq(early.custom, "yes", "a request header")
t.check(early.ua and early.ua:find("websockets", 1, true), "user-agent: " .. tostring(early.ua))
t.eq(early.compressed, false, "compressed")
t.eq(early.tls, false, "tls")
t.eq(early.sock_port, app.port, "local port")
t.eq(early.peer, "127.0.0.1", "peer")
t.check(early.str:find("127.0.0.1", 1, true), early.str)
t.eq(early.resumed, 0, "resumed")
same(seen["at-once"].late, early, "after close, read before:")
local want = {}
for k, v in pairs(early) do want[k] = v end
want.query = "late"
same(seen.late.late, want, "read first after close:")
same(seen.late.on_close, want, "read first in on_close:")
want.query = "never"
same(seen.never.on_close, want, "never read before on_close:")
t.done()
