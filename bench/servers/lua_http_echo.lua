-- lua-http (Debian lua-http, on cqueues) websocket echo server for make bench.
-- usage: lua5.1 bench/servers/lua_http_echo.lua PORT   (prints "ready PORT")
-- Clients asking for the subprotocol "broadcast" form a group that gets every message any
-- of them sends; every other connection is echoed.
local http_server = require("http.server")
local websocket = require("http.websocket")
local cqueues = require("cqueues")

local port = tonumber(arg[1] or "0") or 0
local group = {}


local function serve(ws)
  local broadcast = ws.protocol == "broadcast"
  if broadcast then
    group[ws] = true
  end
  while true do
    local data, opcode = ws:receive()
    if not data then
      break
    end
    if broadcast then
      for member in pairs(group) do
        member:send(data, opcode)
      end
    else
      ws:send(data, opcode)
    end
  end
  group[ws] = nil
  ws:close()
end


local server = assert(http_server.listen({
  host = "127.0.0.1",
  port = port,
  onstream = function(_, stream)
    local headers = assert(stream:get_headers())
    local ws = websocket.new_from_stream(stream, headers)
    if ws and ws:accept({ protocols = { "broadcast" } }) then
      serve(ws)
    end
  end,
  onerror = function() end,
}))
assert(server:listen())
io.stdout:setvbuf("line")
print("ready " .. select(3, server:localname()))
local cq = cqueues.new()
cq:wrap(function()
  cqueues.sleep(tonumber(os.getenv("BENCH_SERVER_MAX_SECONDS") or "") or 900)
  os.exit(0)
end)
cq:wrap(function() assert(server:loop()) end)
assert(cq:loop())
