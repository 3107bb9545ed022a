-- A chat room: every message a client sends is broadcast to everyone connected.
-- usage: luajit examples/chat/server.lua [PORT [CERT KEY]]   (default 8765; 0 picks a free port)
-- Then open examples/chat/index.html in a browser (add ?port=PORT for another port).
-- With CERT and KEY (PEM files) it serves wss:// instead (the page then needs ?wss=1).
-- Subprotocols: "chat" (the room; the message "/bye" makes the server close that connection
-- with 4001 "bye") and "echo" (every message is sent back as is, with its opcode).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local root = here .. "/../.."
package.path = root .. "/ffi-lua/?.lua;" .. root .. "/ffi-lua/?/init.lua;" .. package.path
require("luna.lib").add_path(root .. "/target/release")
local luna = require("luna")

local port = tonumber(arg and arg[1] or "") or 8765
local cert, key = arg and arg[2], arg and arg[3]
if cert and not key then
  io.stderr:write("usage: luajit examples/chat/server.lua [PORT [CERT KEY]]\n")
  os.exit(2)
end
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
      elseif message == "/bye" then
        ws:close(4001, "bye")
      else
        ws:broadcast(nick .. ": " .. message)
      end
    end
  end
  app:broadcast("* " .. nick .. " left")
end

local function echo(ws)
  while true do
    local message, opcode = ws:receive()
    if not message then
      return
    end
    ws:send(message, opcode)
  end
end

app = luna.new_web_app({
  name = "chat",
  host = "127.0.0.1",
  port = port,
  protocols = { chat = chat, echo = echo },
  ssl = cert and { cert = cert, key = key } or nil,
})

local scheme = app.tls and "wss" or "ws"
io.stdout:setvbuf("line")
print(("chat server listening on %s://127.0.0.1:%d (subprotocol \"chat\")"):format(scheme, app.port))
print(("open %s/index.html?port=%d%s in a browser (two tabs to chat with yourself); Ctrl-C stops")
  :format(here, app.port, app.tls and "&wss=1" or ""))
luna.run()
