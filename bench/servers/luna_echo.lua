-- luna echo server for make bench.
-- usage: luajit bench/servers/luna_echo.lua PORT [update|wait]
--   update: luna.update() in a busy loop (a game loop that never sleeps)
--   wait:   luna.wait(1) in a loop (a standalone server that sleeps until events arrive)
-- Prints "ready PORT" once listening. Clients asking for the subprotocol "broadcast" form
-- a group: each message one of them sends goes to all of them (ws:broadcast); every other
-- connection is echoed. Exits by itself after BENCH_SERVER_MAX_SECONDS (default 900).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local root = here .. "/../.."
package.path = root .. "/ffi-lua/?.lua;" .. root .. "/ffi-lua/?/init.lua;" .. package.path
require("luna.lib").add_path(root .. "/target/release")
local luna = require("luna")

local port = tonumber(arg[1] or "0") or 0
local mode = arg[2] or "update"
local deadline = os.time() + (tonumber(os.getenv("BENCH_SERVER_MAX_SECONDS") or "") or 900)


local function echo(ws)
  while true do
    local message, opcode = ws:receive()
    if not message then
      return
    end
    ws:send(message, opcode)
  end
end


local function broadcast(ws)
  while true do
    local message, opcode = ws:receive()
    if not message then
      return
    end
    ws:broadcast(message, opcode)
  end
end


local app = luna.new_web_app({
  name = "bench",
  host = "127.0.0.1",
  port = port,
  protocols = { default = echo, broadcast = broadcast },
})
io.stdout:setvbuf("line")
print("ready " .. app.port)

if mode == "wait" then
  while os.time() < deadline do
    luna.wait(1)
  end
elseif mode == "update" then
  local update = luna.update
  while os.time() < deadline do
    for _ = 1, 10000 do
      update()
    end
  end
else
  error("mode must be update or wait, got " .. tostring(mode))
end
