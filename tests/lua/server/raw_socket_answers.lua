-- ws.raw_socket (alias raw_sock): getfd, getpeername, getsockname, setoption, is_tls.
local t = require("helper")
local luna = t.luna
local r = {}
local app = luna.new_web_app({ name = "raw", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws)
    local raw = ws.raw_socket
    r.same = raw == ws.raw_sock
    r.type = type(raw)
    r.fd = raw:getfd()
    r.sock = { raw:getsockname() }
    r.peer = { raw:getpeername() }
    r.nodelay = raw:setoption("tcp-nodelay", true)
    r.keepalive = raw:setoption("keepalive", true)
    r.bad = select(2, pcall(raw.setoption, raw, "reuseaddr", true))
    r.tls, r.tls_field = raw:is_tls(), raw.tls
    r.str = tostring(raw)
    ws:receive()
    r.fd_after = { raw:getfd() }
    r.peer_after = { raw:getpeername() }
  end } })
local p = t.py([[
with connect(URL) as c:
    print("local", c.local_address[1]); time.sleep(0.2)
]], app.port)
local out = p.finish()
t.pump_until(function() return r.fd_after end, 5, "the close")
t.check(r.same, "raw_sock is raw_socket")
t.eq(r.type, "table", "type")
t.check(type(r.fd) == "number" and r.fd >= 0, "getfd: " .. tostring(r.fd))
t.eq(r.sock[1], "127.0.0.1", "getsockname ip")
t.eq(r.sock[2], app.port, "getsockname port")
t.eq(r.peer[2], tonumber(out:match("local (%d+)")), "getpeername port")
t.eq(r.nodelay, true, "tcp-nodelay")
t.eq(r.keepalive, true, "keepalive")
t.check(tostring(r.bad):find("unsupported option", 1, true), r.bad)
t.eq(r.tls, false, "is_tls")
t.eq(r.tls_field, false, ".tls")
t.check(r.str:find("raw_socket#", 1, true), r.str)
t.eq(r.fd_after[2], "closed", "getfd after close")
t.eq(r.peer_after[1], "127.0.0.1", "getpeername after close")
t.done()
