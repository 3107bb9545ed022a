-- Node's ws as a client compressing everything (threshold 0), with several of its
-- perMessageDeflate settings, against luna with compression = "shared" and "dedicated":
-- the answer ws got, ws.compressed, 300 JSON texts of about 1.1 KiB and a 1 MiB binary
-- echoed, and how many came compressed each way. An offer luna declines (a window zlib cannot
-- compress with) leaves the connection uncompressed.
local t = require("helper")
local luna = t.luna

local SHARED = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
local cases = {
  { "shared", "{}", SHARED },
  { "dedicated", "{}", "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12" },
  { "dedicated", '{"serverMaxWindowBits":10,"clientNoContextTakeover":true}',
    "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12" },
  { "shared", '{"clientMaxWindowBits":9,"serverNoContextTakeover":true}',
    SHARED .. "; client_max_window_bits=9" },
  { "dedicated", '{"serverMaxWindowBits":15,"clientMaxWindowBits":15}',
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12" },
  { "shared", '{"serverMaxWindowBits":8}', "none" },
  { "dedicated", "false", "none" },
}

for _, case in ipairs(cases) do
  local mode, options, answer = case[1], case[2], case[3]
  local name = "node " .. mode .. " " .. options
  local compressed = answer ~= "none"
  local seen = {}
  local app = luna.new_web_app({ name = name, host = "127.0.0.1", port = 0, compression = mode,
    protocols = { default = function(ws)
      seen.compressed = ws.compressed
      while true do
        local msg, op = ws:receive()
        if not msg then return end
        seen.count = (seen.count or 0) + 1
        t.eq(ws:send(msg, op), true, "send")
      end
    end } })
  local url = ("ws://127.0.0.1:%d/"):format(app.port)
  local out = t.node("ws_client.js", url, "'" .. options .. "'", 300).finish(30)
  t.check(out:find("extensions " .. answer .. "\n", 1, true), name .. ": the answer:\n" .. out)
  local want = compressed and "compressed 301 301\n" or "compressed 0 0\n"
  t.check(out:find(want, 1, true), name .. ": compressed messages in and out:\n" .. out)
  t.check(out:find("ok\n", 1, true), out)
  t.eq(seen.compressed, compressed, name .. ": ws.compressed")
  t.eq(seen.count, 301, name .. ": messages the handler received")
  luna.remove_web_app(app)
end
t.done()
