-- What the server's modules share: the live apps by name, and the one loop that polls them
-- (its event handlers are set by luna/init.lua).
local new_loop = require("luna.loop").new

return {
  apps = {},
  loop = new_loop("luna", "a handler or callback"),
  -- Said by a handler error re-raised from luna.update.
  KEEP_SERVING = "no_errors = true in luna.new_web_app keeps the server running",
}
