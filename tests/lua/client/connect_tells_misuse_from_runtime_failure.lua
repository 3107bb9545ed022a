-- luna_client_connect returns NULL for a bad config and for a runtime failure alike;
-- luna_last_result tells which. A bad URL is misuse: raised at the caller's line even with
-- no_errors. A client certificate that does not load is a runtime failure: nil, err with
-- no_errors (after error_handler), raised without it.
local t = require("client_helper")
local lunac = t.lunac
local seen = {}
local function config(over)
  local c = { url = "wss://127.0.0.1:9/", no_errors = true, error_handler = function(e) seen[#seen + 1] = e end }
  for k, v in pairs(over) do c[k] = v end
  return c
end

local err = t.raises(function() lunac.connect_to_web_app(config({ url = "ws://bad host/" })) end, "cannot connect")
t.check(err:find("connect_tells_misuse_from_runtime_failure.lua:", 1, true), "raised at the caller: " .. err)
t.eq(#seen, 0, "misuse does not go to error_handler")

-- README.md exists but holds no certificate.
local app, why = lunac.connect_to_web_app(config({ ssl = { cert = "README.md", key = "README.md" } }))
t.eq(app, nil, "a client whose certificate does not load")
t.check(why:find("cannot connect", 1, true), why)
t.eq(seen[1], why, "error_handler got the runtime failure")
t.raises(function() lunac.connect_to_web_app(config({ no_errors = false, ssl = { cert = "README.md", key = "README.md" } })) end,
  "cannot connect")
t.eq(#lunac.apps(), 0, "nothing half-started")
t.done()
