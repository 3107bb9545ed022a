-- LuaJIT echo server for the conformance tests and the soak script: every TEXT and BINARY
-- message is sent back with its opcode, through luna.update (luna.wait), so a raw-socket
-- peer exercises socket -> Rust -> FFI -> Lua -> back. Two subprotocols do something else:
-- "broadcast" sends each message to every connection of that group (ws:broadcast), and
-- "compressed" answers each message with "compressed=" .. tostring(ws.compressed).
-- usage: luajit tests/common/luna_echo.lua [PORT]
-- Environment: LUNA_LIB (the library), LUNA_ECHO_CONFIG (Lua table constructor merged into
-- the app config, e.g. "{ max_message_size = 1000 }"), LUNA_ECHO_MAX_SECONDS (default 300:
-- the process always ends by itself). Prints "ready PORT" once listening.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local root = here .. "/../.."
package.path = root .. "/ffi-lua/?.lua;" .. root .. "/ffi-lua/?/init.lua;" .. package.path
local luna = require("luna")

local deadline = os.time() + (tonumber(os.getenv("LUNA_ECHO_MAX_SECONDS") or "") or 300)


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


local function compressed(ws)
  while ws:receive() do
    ws:send("compressed=" .. tostring(ws.compressed))
  end
end


local config = { name = "echo", host = "127.0.0.1", port = tonumber(arg[1] or "0") or 0,
  protocols = { default = echo, broadcast = broadcast, compressed = compressed },
  no_errors = true, error_handler = function() end }
local extra = os.getenv("LUNA_ECHO_CONFIG")
if extra and extra ~= "" then
  for k, v in pairs(assert(loadstring("return " .. extra))()) do
    config[k] = v
  end
end

local app = assert(luna.new_web_app(config))
io.stdout:setvbuf("line")
print("ready " .. app.port)
while os.time() < deadline do
  luna.wait(0.5)
end
