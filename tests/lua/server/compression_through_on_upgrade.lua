-- A handshake the host decides (on_upgrade) is compressed as one luna decides alone: the
-- answer keeps the permessage-deflate agreement whether the hook picks a subprotocol or not,
-- and ws.compressed says so; a hook that adds Sec-WebSocket-Extensions itself refuses with
-- 500 and reports the error (luna writes that field).
local t = require("helper")
local luna = t.luna
local errors = {}
local function handler(ws)
  ws:send(("compressed=%s protocol=%s"):format(tostring(ws.compressed), tostring(ws.protocol)))
  while ws:receive() do end
end
local app = luna.new_web_app({ name = "up-deflate", host = "127.0.0.1", port = 0, no_errors = true,
  compression = "dedicated",
  error_handler = function(err) errors[#errors + 1] = err end,
  protocols = { chat = handler, default = handler },
  on_upgrade = function(req)
    if req.path == "/own" then
      return true, { headers = { ["Sec-WebSocket-Extensions"] = "permessage-deflate" } }
    end
    return true, { protocol = req.path == "/chat" and "chat" or nil }
  end })

local p = t.py([[
def refused(path):
    try:
        connect(URL + path, open_timeout=5)
        return "accepted"
    except InvalidStatus as e:
        return "%d" % e.response.status_code
for path, protocols in (("/chat", ["chat"]), ("/plain", None)):
    with connect(URL + path, subprotocols=protocols) as c:
        print(path, c.response.headers.get("Sec-WebSocket-Extensions"), "|", c.recv(timeout=5))
print("own", refused("/own"))
]], app.port)
local out = p.finish()
local answer = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
t.check(out:find("/chat " .. answer .. " | compressed=true protocol=chat\n", 1, true), out)
t.check(out:find("/plain " .. answer .. " | compressed=true protocol=nil\n", 1, true), out)
t.check(out:find("own 500\n", 1, true), out)
t.eq(#errors, 1, "errors reported")
t.check(errors[1]:find("sec-websocket-extensions", 1, true) or errors[1]:find("Sec-WebSocket-Extensions", 1, true), errors[1])
t.done()
