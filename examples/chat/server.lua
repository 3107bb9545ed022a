-- A chat room: every message a client sends is broadcast to everyone connected.
-- usage: [HOST=ADDRESS] luajit examples/chat/server.lua [PORT [CERT KEY]]
--   PORT: default 8765; 0 picks a free port (the line printed says which).
--   HOST: the address to listen on, default 127.0.0.1 (this machine only); "*" = every
--   interface, IPv4 and IPv6.
-- It prints the page to open: examples/chat/index.html with the port (and host) to use.
-- With CERT and KEY (PEM files) it serves wss:// instead (the page then gets &wss=1).
-- Subprotocols: "chat" (the room; the message "/bye" makes the server close that connection
-- with 4001 "bye") and "echo" (every message is sent back as is, with its opcode).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local root = here .. "/../.."
package.path = root .. "/ffi-lua/?.lua;" .. root .. "/ffi-lua/?/init.lua;" .. package.path
local luna = require("luna")

local port = tonumber(arg and arg[1] or "") or 8765
local host = os.getenv("HOST")
host = (host and host ~= "") and host or "127.0.0.1"
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
  host = host,
  port = port,
  protocols = { chat = chat, echo = echo },
  ssl = cert and { cert = cert, key = key } or nil,
})

-- The page as an absolute file:// URL, so it opens from wherever the server was started.
local function page_url()
  local dir = here:gsub("^%./", "")
  if not dir:find("^/") and not dir:find("^%a:[/\\]") then
    local cwd = os.getenv("PWD") or "."
    dir = dir == "." and cwd or cwd .. "/" .. dir
  end
  local query = "?port=" .. app.port
  -- Listening on one address other than this machine's: the page must connect there.
  if host ~= "127.0.0.1" and host ~= "*" and host ~= "0.0.0.0" and host ~= "::" and host ~= "localhost" then
    query = query .. "&host=" .. host
  end
  return "file://" .. dir .. "/index.html" .. query .. (app.tls and "&wss=1" or "")
end

local scheme = app.tls and "wss" or "ws"
io.stdout:setvbuf("line")
local shown = host:find(":", 1, true) and "[" .. host .. "]" or host
print(("chat server listening on %s://%s:%d (subprotocol \"chat\")"):format(scheme, shown, app.port))
print(("open %s in a browser (two tabs to chat with yourself); Ctrl-C stops"):format(page_url()))
luna.run()
