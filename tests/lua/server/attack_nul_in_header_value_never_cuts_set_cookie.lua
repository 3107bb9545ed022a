-- Attack: a peer puts %00 in the query, luna.parse_query decodes it, and the app copies the
-- value into a response header. The header must never reach the wire cut at the NUL
-- (`Set-Cookie: c=evil` without its `HttpOnly; Secure; SameSite=Strict`): either it keeps
-- everything or the request is answered with an error status and the error reaches
-- error_handler. Both hooks that write headers are tried: on_upgrade and http.
local t = require("helper")
local luna = t.luna
local errors = {}
local ATTRS = "; HttpOnly; Secure; SameSite=Strict"
local function cookie(req)
  return { ["Set-Cookie"] = "c=" .. luna.parse_query(req.query).c .. ATTRS }
end
local app = luna.new_web_app({ name = "nul", host = "127.0.0.1", port = 0, no_errors = true,
  error_handler = function(err) errors[#errors + 1] = err end,
  protocols = { default = function(ws) ws:receive() end },
  on_upgrade = function(req) return true, { headers = cookie(req) } end,
  http = function(req) return 200, "hi", cookie(req) end })

local p = t.py([[
import socket
def head(request):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s.sendall(request.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return data.split(b"\r\n\r\n")[0].decode("latin-1")
UPGRADE = ("GET /?c=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
PLAIN = "GET /page?c=%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
for name, template in (("upgrade", UPGRADE), ("http", PLAIN)):
    for value in ("good", "evil%00"):
        print(json.dumps([name, value, head(template % value)]))
]], app.port)
local out = p.finish()
local seen = 0
for line in out:gmatch("[^\n]+") do
  local hook, value, answer = line:match('^%["(%w+)", "([^"]+)", "(.*)"%]$')
  if hook then
    seen = seen + 1
    answer = answer:gsub("\\r\\n", "\n")
    local status = tonumber(answer:match("^HTTP/1%.1 (%d+)"))
    local set_cookie = answer:match("\n[Ss]et%-[Cc]ookie: ([^\n]*)")
    if value == "good" then
      t.eq(set_cookie, "c=good" .. ATTRS, hook .. ": the honest cookie")
    elseif set_cookie then
      -- Served with the header: it must be whole, never cut at the NUL.
      t.check(set_cookie:find(ATTRS, 1, true), hook .. ": Set-Cookie was cut: " .. answer)
    else
      t.check(status and status >= 400, hook .. ": no cookie and no error status: " .. answer)
    end
  end
end
t.eq(seen, 4, "answers read:\n" .. out)
-- Every refused answer was reported, naming the NUL.
local all = table.concat(errors, "\n")
t.check(#errors >= 1 and all:find("NUL", 1, true), "the error reached error_handler: " .. all)
t.done()
