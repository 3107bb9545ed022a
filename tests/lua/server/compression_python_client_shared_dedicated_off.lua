-- Python websockets as a client (it offers permessage-deflate by default) against luna with
-- compression = "shared", "dedicated" and off: the answer it got, ws.compressed, 500 JSON
-- texts of about 1.1 KiB and a 1 MiB binary echoed, and how many messages came compressed
-- each way (websockets compresses all it sends; luna what reaches its 256-byte threshold).
local t = require("helper")
local luna = t.luna

local cases = {
  { mode = "shared", compressed = true,
    answer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover" },
  { mode = "dedicated", compressed = true,
    answer = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12" },
  { mode = false, compressed = false, answer = "None" },
}

local client = [[
from websockets.sync.client import connect
counts = {"in": 0, "out": 0}
with connect(URL, max_size=None) as c:
    print("extensions", c.response.headers.get("Sec-WebSocket-Extensions"))
    for ext in c.protocol.extensions:
        decode, encode = ext.decode, ext.encode
        def counted_decode(frame, *, max_size=None, decode=decode):
            counts["in"] += bool(frame.rsv1)
            return decode(frame, max_size=max_size)
        def counted_encode(frame, encode=encode):
            frame = encode(frame)
            counts["out"] += bool(frame.rsv1)
            return frame
        ext.decode, ext.encode = counted_decode, counted_encode
    for i in range(500):
        players = [{"id": k, "x": (i * 7 + k * 13) % 1000, "y": (i * 3 + k * 29) % 1000,
                    "hp": 100 - k} for k in range(32)]
        msg = json.dumps({"seq": i, "players": players}, separators=(",", ":"))
        assert len(msg) > 1024, len(msg)
        c.send(msg)
        assert c.recv(timeout=5) == msg, i
    big = bytes((i * 31 + (i >> 10)) & 255 for i in range(1 << 20))
    c.send(big)
    assert c.recv(timeout=10) == big
print("compressed", counts["in"], counts["out"])
print("ok")
]]

for _, case in ipairs(cases) do
  local name = "py-" .. tostring(case.mode)
  local seen = {}
  local app = luna.new_web_app({ name = name, host = "127.0.0.1", port = 0, compression = case.mode,
    protocols = { default = function(ws)
      seen.compressed = ws.compressed
      while true do
        local msg, op = ws:receive()
        if not msg then return end
        seen.count = (seen.count or 0) + 1
        t.eq(ws:send(msg, op), true, "send")
      end
    end } })
  local out = t.py(client, app.port).finish(30)
  t.check(out:find("extensions " .. case.answer .. "\n", 1, true), name .. ": the answer:\n" .. out)
  local want = case.compressed and "compressed 501 501\n" or "compressed 0 0\n"
  t.check(out:find(want, 1, true), name .. ": compressed messages in and out:\n" .. out)
  t.check(out:find("ok\n", 1, true), out)
  t.eq(seen.compressed, case.compressed, name .. ": ws.compressed")
  t.eq(seen.count, 501, name .. ": messages the handler received")
  luna.remove_web_app(app)
end
t.done()
