-- lunac with compression = "shared" and "dedicated" against Python websockets (which accepts
-- permessage-deflate with 12-bit windows): the offer and the answer as the peer saw them,
-- text, binary, empty and 16 MiB echoes, app.compressed, and compressed messages both ways:
-- lunac compresses the 16 MiB message (the others are under its 256-byte threshold), websockets
-- every echo. Without compression: no offer, nothing compressed.
local t = require("client_helper")
local cases = {
  { mode = "shared",
    offer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
      .. "client_max_window_bits",
    answer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
      .. "server_max_window_bits=12; client_max_window_bits=12" },
  { mode = "dedicated",
    offer = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    answer = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12" },
}
for _, case in ipairs(cases) do
  local out = t.echo_scenario("py", { compressed = true,
    config = { compression = case.mode, name = "py " .. case.mode } })
  local seen = out:lower()
  t.check(seen:find("header sec-websocket-extensions: " .. case.offer .. "\n", 1, true),
    case.mode .. ": the offer as sent:\n" .. out)
  t.check(out:find("extensions " .. case.answer .. "\n", 1, true), case.mode .. ": the answer:\n" .. out)
  t.check(out:find("compressed 1 5\n", 1, true), case.mode .. ": compressed messages in and out:\n" .. out)
end
local out = t.echo_scenario("py", { config = { name = "py off" } })
t.check(not out:lower():find("sec-websocket-extensions", 1, true), "no offer:\n" .. out)
t.check(out:find("extensions None\n", 1, true), "no answer:\n" .. out)
t.check(out:find("compressed 0 0\n", 1, true), "nothing compressed:\n" .. out)
t.done()
