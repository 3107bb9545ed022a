-- A chat room: every message a client sends is broadcast to everyone connected.
-- usage: [HOST=ADDRESS] luajit examples/chat/server.lua [PORT [CERT KEY]]
--   PORT: default 8765; 0 picks a free port (the line printed says which).
--   HOST: the address to listen on, default 127.0.0.1 (this machine only); "*" = every
--   interface, IPv4 and IPv6.
--   ORIGINS: comma-separated origins whose pages may connect (e.g. http://127.0.0.1:8765);
--   other browser pages get HTTP 403. Default: every origin.
-- It serves its own page (examples/chat/public/) on the same port and prints the URL to open:
-- http://HOST:PORT/. The page asks for a name; joining with ?name=NAME, the 101 answer sets
-- the cookie "name", and later visits join under the name from that cookie (both read by
-- on_upgrade, which hands it to the handler as ws.data.name; no name: "guestN"). With CERT
-- and KEY (PEM files) it serves https:// and wss:// instead.
-- Subprotocols: "chat" (the room; the message "/bye" makes the server close that connection
-- with 4001 "bye") and "echo" (every message is sent back as is, with its opcode).
-- CLUSTER=redis://HOST:PORT joins every server started with the same Redis into one room:
-- the room's broadcasts reach the "chat" connections of every node (`make demo-cluster`).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local root = here .. "/../.."
package.path = root .. "/ffi-lua/?.lua;" .. root .. "/ffi-lua/?/init.lua;" .. package.path
local luna = require("luna")

local port = tonumber(arg and arg[1] or "") or 8765
local host = os.getenv("HOST")
host = (host and host ~= "") and host or "127.0.0.1"
local cert, key = arg and arg[2], arg and arg[3]
local cluster = os.getenv("CLUSTER")
cluster = (cluster and cluster ~= "") and { redis = cluster } or nil
if cert and not key then
  io.stderr:write("usage: luajit examples/chat/server.lua [PORT [CERT KEY]]\n")
  os.exit(2)
end
local origins
for origin in (os.getenv("ORIGINS") or ""):gmatch("[^,%s]+") do
  origins = origins or {}
  origins[#origins + 1] = origin
end
local app

-- `name` if it is a plain short word (safe in a cookie and in the room), else nil.
local function plain(name)
  if name and #name <= 24 and name:find("^[%w_%-]+$") then
    return name
  end
end

-- Decides each WebSocket handshake before it opens: the name comes from ?name= (and is then
-- remembered in a cookie set on the 101 answer) or from that cookie.
local function on_upgrade(req)
  local asked = plain(luna.parse_query(req.query).name)
  local cookie = plain(("; " .. (req.headers.cookie or "")):match(";%s*name=([^;]*)"))
  local headers
  if asked then
    headers = { ["Set-Cookie"] = "name=" .. asked .. "; Path=/; SameSite=Strict" }
  end
  return true, { headers = headers, data = { name = asked or cookie } }
end

local function chat(ws)
  local nick = ws.data.name or ("guest" .. ws.id)
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
  static = here .. "/public",
  cluster = cluster,
  on_upgrade = on_upgrade,
  origins = origins,
})

-- Where a browser on this machine finds the page ("*" and the like: this machine's loopback).
local function page_url()
  local shown = host
  if host == "*" or host == "0.0.0.0" or host == "::" then
    shown = "127.0.0.1"
  elseif host:find(":", 1, true) then
    shown = "[" .. host .. "]"
  end
  return ("%s://%s:%d/"):format(app.tls and "https" or "http", shown, app.port)
end

local scheme = app.tls and "wss" or "ws"
io.stdout:setvbuf("line")
local shown = host:find(":", 1, true) and "[" .. host .. "]" or host
print(("chat server listening on %s://%s:%d (subprotocol \"chat\")"):format(scheme, shown, app.port))
if cluster then
  print(("in a cluster through %s: every node with that Redis shares the room"):format(cluster.redis))
end
print(("open %s in a browser (two tabs to chat with yourself); Ctrl-C stops"):format(page_url()))
luna.run()
