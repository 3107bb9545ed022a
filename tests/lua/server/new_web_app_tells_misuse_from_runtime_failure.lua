-- luna_server_new returns NULL for a bad config and for a runtime failure alike;
-- luna_last_result tells which. A config the library refuses is misuse: raised at the
-- caller's line even with no_errors. A busy port is a runtime failure: nil, err with
-- no_errors (after error_handler).
local t = require("helper")
local luna = t.luna
local h = { default = function() end }
local seen = {}
local function config(over)
  local c = { name = "x", host = "127.0.0.1", port = 0, protocols = h, no_errors = true,
    error_handler = function(e) seen[#seen + 1] = e end }
  for k, v in pairs(over) do c[k] = v end
  return c
end

local err = t.raises(function() luna.new_web_app(config({ protocols = { ["not ok"] = h.default } })) end,
  "subprotocol name 'not ok' is not a valid token")
t.check(err:find("new_web_app_tells_misuse_from_runtime_failure.lua:", 1, true), "raised at the caller: " .. err)
t.raises(function() luna.new_web_app(config({ cluster = { redis = "http://x" } })) end,
  "cannot start")
t.eq(#seen, 0, "misuse does not go to error_handler")

local a = luna.new_web_app(config({ name = "a" }))
local app, why = luna.new_web_app(config({ name = "busy", port = a.port }))
t.eq(app, nil, "an app on a busy port")
t.check(why:find("cannot start \"busy\"", 1, true), why)
t.eq(seen[1], why, "error_handler got the runtime failure")
t.done()
