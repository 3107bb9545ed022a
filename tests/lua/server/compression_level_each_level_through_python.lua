-- compression_level: out-of-range values raise an error naming the key (server and lunac);
-- every level 1-9 round-trips 200 JSON game states through Python websockets with
-- compression = "dedicated", every reply compressed (RSV1), the bytes after compression
-- fewer than before. Without the key, both kinds compress as level 6 does (the same bytes on
-- the wire for the same messages).
local t = require("helper")
local luna = t.luna
local lunac = require("lunac")

local want = "'compression_level' must be an integer 1..9"
for _, bad in ipairs({ -1, 0, 10, 1.5, "6", true }) do
  t.raises(function()
    luna.new_web_app({ name = "bad", host = "127.0.0.1", port = 0, compression = "dedicated",
      compression_level = bad, protocols = { default = function() end } })
  end, want)
  t.raises(function()
    lunac.connect_to_web_app({ url = "ws://127.0.0.1:9/", compression_level = bad })
  end, want)
end

local client = [[
import random
from websockets.sync.client import connect
random.seed(7)
rsv1 = 0
with connect(URL, max_size=None) as c:
    print("extensions", c.response.headers.get("Sec-WebSocket-Extensions"))
    for ext in c.protocol.extensions:
        decode = ext.decode
        def counted_decode(frame, *, max_size=None, decode=decode):
            global rsv1
            rsv1 += bool(frame.rsv1)
            return decode(frame, max_size=max_size)
        ext.decode = counted_decode
    for i in range(200):
        players = [{"id": "p%d" % k, "x": random.random() * 800, "y": random.random() * 600,
                    "hp": random.randint(0, 100), "alive": True} for k in range(8)]
        msg = json.dumps({"type": "state", "tick": i, "players": players})
        c.send(msg)
        assert c.recv(timeout=5) == msg, i
print("compressed replies", rsv1)
print("ok")
]]

-- The bytes after compression of 200 replies from an app compressing as `kind` at `level`
-- (nil = the default).
local function compressed_bytes(kind, level)
  local name = ("%s-%s"):format(kind, tostring(level))
  local app = luna.new_web_app({ name = name, host = "127.0.0.1", port = 0,
    compression = kind, compression_level = level,
    protocols = { default = function(ws)
      while true do
        local msg, op = ws:receive()
        if not msg then return end
        t.eq(ws:send(msg, op), true, "send")
      end
    end } })
  local out = t.py(client, app.port).finish(30)
  t.check(out:find("compressed replies 200\n", 1, true), name .. ":\n" .. out)
  t.check(out:find("ok\n", 1, true), name .. ":\n" .. out)
  local s = app:stats()
  local before, after = tonumber(s.compression_input_bytes), tonumber(s.compression_output_bytes)
  t.check(before > 200 * 600, name .. ": bytes compressed " .. before)
  -- Without context takeover a message can only refer to itself: less to gain.
  local least = kind == "dedicated" and 2 or 1.3
  t.check(after * least < before, name .. ": " .. after .. " bytes from " .. before)
  luna.remove_web_app(app)
  return after
end

local by_level = {}
for level = 1, 9 do
  by_level[level] = compressed_bytes("dedicated", level)
end
t.eq(compressed_bytes("dedicated", nil), by_level[6], "dedicated by default: level 6's bytes")
local shared_6 = compressed_bytes("shared", 6)
t.eq(compressed_bytes("shared", nil), shared_6, "shared by default: level 6's bytes")
t.check(compressed_bytes("shared", 1) > shared_6, "shared: level 1 leaves more bytes than 6")
lunac.close()
t.done()
