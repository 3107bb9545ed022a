-- debug = true logs listening, opens, closes and failed handshakes, prefixed with the name;
-- without debug a stray HTTP request reaches neither stdout nor error_handler.
local t = require("helper")
local cmd = [[luajit -e '
local t = require("helper")
local luna = t.luna
local errs = 0
local quiet = luna.new_web_app({ name = "quiet", host = "127.0.0.1", port = 0,
  error_handler = function() errs = errs + 1 end, protocols = { default = function(ws) ws:receive() end } })
local app = luna.new_web_app({ name = "dbg", host = "127.0.0.1", port = 0, debug = true,
  protocols = { default = function(ws) ws:receive() end } })
local p = t.py([=[
import socket
with connect(URL) as c: pass
for port in (PORT, int(sys.argv[2])):
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    print(s.recv(100)); s.close()
]=], app.port, quiet.port)
print(p.finish())
for _ = 1, 10 do luna.wait(0.05) end
print("quiet errors " .. errs)
t.done()' 2>&1]]
local f = assert(io.popen(cmd))
local out = f:read("*a")
f:close()
t.check(out:find("[luna dbg] listening on 127.0.0.1 port", 1, true), out)
t.check(out:find("%[luna dbg%] open ws#%d+%(127%.0%.0%.1:%d+%)"), out)
t.check(out:find("[luna dbg] close ws#", 1, true), out)
t.check(out:find("[luna dbg] handshake from 127.0.0.1", 1, true), out)
t.check(out:find("quiet errors 0", 1, true), out)
t.check(not out:find("[luna quiet]", 1, true), out)
t.check(out:find("HTTP/1.1 400", 1, true), out)
t.done()
