-- The compression keys of luna.new_web_app and lunac.connect_to_web_app: bad values raise an
-- error naming the key; compression = true is "shared" (Python websockets sees the shared
-- answer); the threshold is at least 1.
local t = require("helper")
local luna = t.luna
local lunac = require("lunac")
local h = { default = function(ws) while ws:receive() do end end }

local function app(over)
  local c = { name = "keys", host = "127.0.0.1", port = 0, protocols = h }
  for k, v in pairs(over) do c[k] = v end
  return luna.new_web_app(c)
end

local want = "'compression' must be false, true, \"shared\" or \"dedicated\""
for _, bad in ipairs({ "zip", 1, 0, "Shared", {} }) do
  t.raises(function() app({ compression = bad }) end, want)
  t.raises(function() lunac.connect_to_web_app({ url = "ws://127.0.0.1:9/", compression = bad }) end, want)
end
for _, bad in ipairs({ 0, -1, 1.5, "1024" }) do
  t.raises(function() app({ compression = true, compression_threshold = bad }) end,
    "'compression_threshold' must be an integer 1..4294967295")
  t.raises(function()
    lunac.connect_to_web_app({ url = "ws://127.0.0.1:9/", compression_threshold = bad })
  end, "'compression_threshold' must be an integer 1..4294967295")
end

for _, value in ipairs({ true, "shared", "dedicated", false }) do
  local a = app({ name = "keys " .. tostring(value), compression = value, compression_threshold = 1 })
  local p = t.py([[
with connect(URL) as c:
    print("extensions", c.response.headers.get("Sec-WebSocket-Extensions"))
]], a.port)
  local out = p.finish()
  local answer = ({
    [true] = "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    shared = "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    dedicated = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    [false] = "None",
  })[value]
  t.check(out:find("extensions " .. answer .. "\n", 1, true), tostring(value) .. ":\n" .. out)
  luna.remove_web_app(a)
end
lunac.close()
t.done()
