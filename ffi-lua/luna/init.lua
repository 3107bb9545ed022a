-- luna: WebSocket servers for LuaJIT and LÖVE, on top of the C ABI in luna.h. This file holds
-- the module's functions; the app, ws, hooks and config live in the luna/ files it requires.
local C = require("luna.lib").load()
local common = require("luna.common")
local errors = require("luna.errors")
local state = require("luna.server_state")
local ws = require("luna.ws")
local hooks = require("luna.hooks")
local app_module = require("luna.app")
local prepare = require("luna.config").prepare
local request = require("luna.request")

local pairs, pcall, error = pairs, pcall, error
local format = string.format
local last_error, log = errors.last_error, errors.log
local fail_new, fail_start = errors.fail_new, errors.fail_start
local apps, loop = state.apps, state.loop

local luna = common.export({})

loop.on = {
  open = ws.on_open, message = ws.on_message, close = ws.on_close, resume = ws.on_resume,
  upgrade = hooks.on_upgrade, http = hooks.on_http,
  error = app_module.on_error, log = app_module.on_log, after_poll = app_module.after_poll,
}


-------------------------------------------------------------------------------
-- Apps


function luna.new_web_app(config)
  local ok, cfg, anchors = pcall(prepare, config)
  if not ok then
    error(cfg, 2)
  end
  if apps[config.name] then
    local msg = format("luna.new_web_app: an app named %q already exists", config.name)
    local none, err = fail_new(config, msg)
    return none, err
  end
  local handle = C.luna_server_new(cfg)
  anchors[#anchors + 1] = cfg
  if handle == nil then
    local msg = format("luna.new_web_app: cannot start %q on %s port %d: %s",
      config.name, config.host, config.port, last_error())
    local none, err = fail_start(config, msg)
    return none, err
  end
  local app = app_module.new(config, handle)
  apps[app.name] = app
  loop:add(app)
  app.tls = config.ssl ~= nil
  log(app, format("listening on %s port %d (%s)", app.host, app.port, app.tls and "wss://" or "ws://"))
  return app
end


luna.remove_web_app = app_module.remove


function luna.close()
  local list = loop:list()
  for i = #list, 1, -1 do
    luna.remove_web_app(list[i])
  end
end


function luna.apps()
  return loop:list()
end


-------------------------------------------------------------------------------
-- The loop


function luna.update(dt)
  loop:update()
end


function luna.wait(timeout)
  return (loop:wait(timeout))
end


-- How long a signal's drain may take: SIGTERM (a restart, a deploy) spreads the closes over
-- seconds; SIGINT (Ctrl-C at a terminal) ends within one.
local DRAIN_ON_SIGNAL = { [15] = 10, [2] = 1 }

-- Returns nil once every app is removed, or "SIGINT" / "SIGTERM" when one of them ended it:
-- every app was drained (1001 "going away", after what was queued), then removed; a second
-- signal removes them at once.
function luna.run()
  return loop:run(luna.close, function(signal)
    for _, app in pairs(apps) do
      app:drain({ timeout = DRAIN_ON_SIGNAL[signal] or 1 })
    end
  end)
end


luna.parse_query = request.parse_query


return luna
