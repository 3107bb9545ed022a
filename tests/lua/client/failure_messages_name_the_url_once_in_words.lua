-- lunac's error messages say the URL (the default name) once, and say what failed in words,
-- never with the C names of result codes (LUNA_RESULT_*): a refused connection, a connect
-- timeout, and a server that breaks the protocol after the connection opened.
local t = require("client_helper")

local function plain_count(s, needle)
  local n, from = 0, 1
  while true do
    local i = s:find(needle, from, true)
    if not i then return n end
    n, from = n + 1, i + #needle
  end
end

local function check_message(msg, url, words)
  t.eq(plain_count(msg, url), 1, "times the URL is in: " .. msg)
  t.check(not msg:find("LUNA_RESULT", 1, true), "no C names in: " .. msg)
  t.check(msg:find(words, 1, true), ("%q in: %s"):format(words, msg))
end

-- Nothing listens there.
local p = io.popen(t.python .. [[ -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"]])
local free = tonumber(p:read("*a"))
p:close()
local url = ("ws://127.0.0.1:%d/refused"):format(free)
local rec = t.recorder({ url = url })
t.pump_until(function() return rec.closes > 0 end, 10, "on_close")
check_message(rec.errors[1], url, "connection failed: connection refused")
t.eq(plain_count(rec.reason, url), 0, "the close reason holds the details only: " .. rec.reason)

-- A server that accepts TCP and never answers.
local silent = t.server("py", "silent")
url = silent.url .. "/silent"
rec = t.recorder({ url = url, connect_timeout = 0.3 })
t.pump_until(function() return rec.closes > 0 end, 10, "on_close")
check_message(rec.errors[1], url, "connection failed: connect timeout")

-- A server that upgrades, then sends a frame with a reserved bit set.
local bad = t.py([[
import socket, hashlib, base64
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print("PORT", srv.getsockname()[1], flush=True)
srv.settimeout(10)
c, _ = srv.accept()
head = b""
while b"\r\n\r\n" not in head:
    head += c.recv(4096)
key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")][0]
accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
time.sleep(0.2)
c.sendall(bytes([0x81 | 0x40, 1]) + b"x")
c.settimeout(5)
try:
    while c.recv(4096):
        pass
except OSError:
    pass
]], 0)
local port
t.pump_until(function()
  port = tonumber(bad.output():match("PORT (%d+)"))
  return port
end, 10, "the raw server's port")
url = ("ws://127.0.0.1:%d/raw"):format(port)
rec = t.recorder({ url = url })
t.pump_until(function() return rec.closes > 0 end, 10, "on_close")
t.eq(rec.events[1], "connect", "it opened first")
check_message(rec.errors[1], url, "protocol error")
bad.finish()
silent.finish()
t.done()
