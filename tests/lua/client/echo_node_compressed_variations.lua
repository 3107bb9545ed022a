-- lunac with compression against Node's ws compressing everything (threshold 0) with several
-- of its perMessageDeflate settings: each answer as ws wrote it, text, binary, empty and
-- 16 MiB echoes, app.compressed, and compressed messages both ways (lunac compresses the
-- 16 MiB message, its others being under its 256-byte threshold; ws every echo). A ws server that cannot
-- honour the offer refuses the upgrade (HTTP 400), which lunac reports as a failure.
local t = require("client_helper")
local cases = {
  { "shared", "{}", "permessage-deflate; server_no_context_takeover; client_no_context_takeover" },
  { "dedicated", "{}", "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12" },
  -- Smaller windows than offered, and no client context: lunac follows the answer.
  { "dedicated", '{"serverMaxWindowBits":10,"clientNoContextTakeover":true}',
    "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12; client_no_context_takeover" },
  { "dedicated", '{"clientMaxWindowBits":10}',
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10" },
  -- server_max_window_bits that the offer did not ask for (RFC 7692 §7.1.2.1 allows it).
  { "shared", '{"serverMaxWindowBits":9}',
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9" },
}
for _, case in ipairs(cases) do
  local mode, options, answer = case[1], case[2], case[3]
  local what = mode .. " " .. options
  local out = t.echo_scenario("node", { compressed = true, peer = { "deflate", "'" .. options .. "'" },
    config = { compression = mode, name = "node " .. mode } })
  t.check(out:find("extensions " .. answer .. "\n", 1, true), what .. ": the answer:\n" .. out)
  t.check(out:find("compressed 1 5\n", 1, true), what .. ": compressed messages in and out:\n" .. out)
end
-- serverNoContextTakeover = false: ws cannot take the shared offer (it asks for
-- server_no_context_takeover) and answers 400.
local peer = t.server("node", "deflate", "'{\"serverNoContextTakeover\":false}'")
t.failure_scenario({ url = peer.url, compression = "shared" }, "400")
local out = peer.finish()
t.check(out:find("refused Invalid or unacceptable Sec-WebSocket-Extensions header", 1, true), out)
t.done()
