-- A chat room: every message a client sends is broadcast to everyone connected.
-- usage: luajit examples/chat/server.lua [PORT]   (default 8765; 0 picks a free port)
-- Then open examples/chat/index.html in a browser (add ?port=PORT for another port).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local root = here .. "/../.."
package.path = root .. "/ffi-lua/?.lua;" .. root .. "/ffi-lua/?/init.lua;" .. package.path
require("luna.lib").add_path(root .. "/target/release")
local luna = require("luna")

local port = tonumber(arg and arg[1] or "") or 8765
local app

local function chat(ws)
  local nick = "guest" .. ws.id
  ws:broadcast("* " .. nick .. " joined")
  while true do
    local message, opcode = ws:receive()
    if not message then
      break
    end
    if opcode == luna.opcodes.TEXT then
      local name = message:match("^/nick%s+(%S+)$")
      if name then
        ws:broadcast("* " .. nick .. " is now " .. name)
        nick = name
      else
        ws:broadcast(nick .. ": " .. message)
      end
    end
  end
  app:broadcast("* " .. nick .. " left")
end

app = luna.new_web_app({
  name = "chat",
  host = "127.0.0.1",
  port = port,
  protocols = { chat = chat },
})

io.stdout:setvbuf("line")
print(("chat server listening on ws://127.0.0.1:%d (subprotocol \"chat\")"):format(app.port))
print(("open %s/index.html?port=%d in a browser (two tabs to chat with yourself); Ctrl-C stops")
  :format(here, app.port))
luna.run()
