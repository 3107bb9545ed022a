-- A chat room: every message a client sends is broadcast to everyone connected.
-- usage: [HOST=ADDRESS] luajit examples/chat/server.lua [PORT [CERT KEY]]
--   PORT: default 8765; 0 picks a free port (the line printed says which).
--   HOST: the address to listen on, default 127.0.0.1 (this machine only); "*" = every
--   interface, IPv4 and IPv6.
--   ORIGINS: comma-separated origins whose pages may connect (e.g. http://127.0.0.1:8765);
--   other browser pages get HTTP 403. Default: only the page this server serves itself,
--   http://HOST:PORT (a loopback HOST also as localhost, 127.0.0.1 and [::1]; with HOST=*
--   the address the browser used, from the Host header). Clients without an Origin header
--   (not browsers) are accepted.
-- It serves its own page (examples/chat/public/, with js/luna.js as /luna.js) on the same port and prints the URL to open:
-- http://HOST:PORT/. The page asks for a name; joining with ?name=NAME, the 101 answer sets
-- the cookie "name", and later visits join under the name from that cookie (both read by
-- on_upgrade, which hands it to the handler as ws.data.name; no name: "guestN"). A name is
-- 1-24 letters, digits, _ or -, on joining as with "/nick NAME"; a name in use in the room
-- gets a number (a second tab of "ann" is "ann2"), and each connection is first told
-- "* you are NAME". Control characters (line breaks included) in messages become spaces, so
-- a message is one line that starts with its sender's name. With CERT and KEY (PEM files) it
-- serves https:// and wss:// instead.
-- Subprotocols: "chat" (the room; the message "/bye" makes the server close that connection
-- with 4001 "bye") and "echo" (every message is sent back as is, with its opcode).
-- CLUSTER=redis://HOST:PORT joins every server started with the same Redis into one room:
-- the room's broadcasts reach the "chat" connections of every node (`make demo-cluster`);
-- names are unique on each node only.
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

local MAX_NAME = 24

-- `name` if it is a plain short word (safe in a cookie and in the room), else nil.
local function plain(name)
  if name and #name <= MAX_NAME and name:find("^[%w_%-]+$") then
    return name
  end
end

-- Names in the room (lower case -> true): two connections never share one.
local taken = {}

-- `name`, or with the first number that makes it free (ann, ann2, ann3, ...); taken now.
local function claim(name)
  local n, unique = 1, name
  while taken[unique:lower()] do
    n = n + 1
    local suffix = tostring(n)
    unique = name:sub(1, MAX_NAME - #suffix) .. suffix
  end
  taken[unique:lower()] = true
  return unique
end

local function release(name)
  taken[name:lower()] = nil
end

-- One line of chat: control characters (C0, DEL, C1, and the Unicode line and paragraph
-- separators) become spaces, so nobody can start a line that looks like the server's.
local function one_line(text)
  return (text:gsub("%c", " "):gsub("\194[\128-\159]", " "):gsub("\226\128[\168\169]", " "))
end

-- The origins a browser page may connect from when ORIGINS is not set: the page's own.
-- Filled once the port is known; `nil` for a wildcard HOST (then the Host header says it).
local own_origins

local LOOPBACK = { ["127.0.0.1"] = true, ["::1"] = true, localhost = true }
local WILDCARD = { ["*"] = true, ["0.0.0.0"] = true, ["::"] = true }

local function list_own_origins(scheme, port)
  if WILDCARD[host] then
    return nil
  end
  local names = LOOPBACK[host:lower()] and { "127.0.0.1", "localhost", "[::1]" }
    or { host:find(":", 1, true) and "[" .. host .. "]" or host }
  local list = {}
  for _, name in ipairs(names) do
    list[(("%s://%s:%d"):format(scheme, name, port)):lower()] = true
  end
  return list
end

-- Whether a handshake's Origin is this server's own page (no Origin: not a browser).
local function own_page(req, scheme)
  local origin = req.headers.origin
  if origin == nil then
    return true
  elseif own_origins then
    return own_origins[origin:lower()] == true
  end
  return req.headers.host ~= nil and origin:lower() == (scheme .. "://" .. req.headers.host):lower()
end

-- Decides each WebSocket handshake before it opens: without ORIGINS, only this server's own
-- page may connect; the name comes from ?name= (and is then remembered in a cookie set on
-- the 101 answer) or from that cookie.
local function on_upgrade(req)
  if not origins and not own_page(req, cert and "https" or "http") then
    return false, 403, "this chat accepts only its own page (set ORIGINS to allow others)\n"
  end
  local asked = plain(luna.parse_query(req.query).name)
  local cookie = plain(("; " .. (req.headers.cookie or "")):match(";%s*name=([^;]*)"))
  local headers
  if asked then
    headers = { ["Set-Cookie"] = "name=" .. asked .. "; Path=/; SameSite=Strict" }
  end
  return true, { headers = headers, data = { name = asked or cookie } }
end

-- "/nick NAME": the same rules as a name on joining; a name in use is refused.
local function rename(ws, nick, asked)
  local name = plain(asked)
  if not name then
    ws:send("* not a name: use 1-" .. MAX_NAME .. " letters, digits, _ or -")
    return nick
  elseif name:lower() ~= nick:lower() and taken[name:lower()] then
    ws:send("* " .. name .. " is taken")
    return nick
  end
  release(nick)
  name = claim(name)
  ws:broadcast("* " .. nick .. " is now " .. name)
  ws:send("* you are " .. name)
  return name
end

local function chat(ws)
  local nick = claim(ws.data.name or ("guest" .. ws.id))
  ws:broadcast("* " .. nick .. " joined")
  ws:send("* you are " .. nick)
  while true do
    local message, opcode = ws:receive()
    if not message then
      break
    end
    if opcode == luna.opcodes.TEXT then
      local asked = message:match("^/nick%s+(.-)%s*$")
      if asked then
        nick = rename(ws, nick, asked)
      elseif message == "/bye" then
        ws:close(4001, "bye")
      else
        ws:broadcast(nick .. ": " .. one_line(message))
      end
    end
  end
  release(nick)
  app:broadcast("* " .. nick .. " left")
end

-- The page's WebSocket client, luna.js, from the project's js/ folder (the room's page in
-- public/ imports it as /luna.js).
local LUNA_JS = assert(io.open(root .. "/js/luna.js", "rb")):read("*a")

local function http(req)
  if req.path == "/luna.js" then
    return 200, LUNA_JS, { ["Content-Type"] = "text/javascript; charset=utf-8" }
  end
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
  http = http,
  cluster = cluster,
  on_upgrade = on_upgrade,
  origins = origins,
})
own_origins = list_own_origins(app.tls and "https" or "http", app.port)

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
