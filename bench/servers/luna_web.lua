-- luna web server for `make bench-web`: static files and a WebSocket echo on one port.
-- usage: luajit bench/servers/luna_web.lua PORT ROOT [hook]
--   ROOT: the directory served (`static`).
--   hook: set an on_upgrade that accepts every handshake (one host round trip each).
-- Prints "ready PORT" once listening; runs luna.wait(1) in a loop. Exits by itself after
-- BENCH_SERVER_MAX_SECONDS (default 900).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local root = here .. "/../.."
package.path = root .. "/ffi-lua/?.lua;" .. root .. "/ffi-lua/?/init.lua;" .. package.path
require("luna.lib").add_path(root .. "/target/release")
local luna = require("luna")

local port = tonumber(arg[1] or "0") or 0
local dir = assert(arg[2], "usage: luajit bench/servers/luna_web.lua PORT ROOT [hook]")
local hook = arg[3] == "hook"
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

local app = luna.new_web_app({
  name = "bench-web",
  host = "127.0.0.1",
  port = port,
  static = dir,
  protocols = { default = echo },
  on_upgrade = hook and function() return true end or nil,
})
io.stdout:setvbuf("line")
print("ready " .. app.port)
while os.time() < deadline do
  luna.wait(1)
end
