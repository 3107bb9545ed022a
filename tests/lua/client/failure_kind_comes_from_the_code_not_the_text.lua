-- Which failure a connection had comes from the library's result code, not from words in
-- its message: a server whose 101 accepts an extension named "subprotocol" fails the
-- handshake ("handshake failed"), though the message mentions that word; a server that
-- accepts none of the requested subprotocols is "subprotocol not accepted".
local t = require("client_helper")

local raw = t.py([[
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
          b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Extensions: subprotocol\r\n\r\n")
c.settimeout(5)
try:
    while c.recv(4096):
        pass
except OSError:
    pass
]], 0)
local port
t.pump_until(function()
  port = tonumber(raw.output():match("PORT (%d+)"))
  return port
end, 10, "the raw server's port")
local rec = t.failure_scenario({ url = ("ws://127.0.0.1:%d/"):format(port) }, "handshake failed")
t.check(rec.errors[1]:find("subprotocol", 1, true), "the message mentions the word: " .. rec.errors[1])
t.eq(rec.app.failure, "handshake failed", "app.failure")
raw.finish()

local peer = t.server("py", "noproto")
rec = t.failure_scenario({ url = peer.url, protocol = "chat" }, "subprotocol not accepted")
t.eq(rec.app.failure, "subprotocol not accepted", "app.failure")
peer.finish()
t.done()
