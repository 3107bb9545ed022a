-- A libluna built without TLS (`make TLS=0`): `ssl` prints a warning and serves plain ws://,
-- as the original Luna did when LuaSec was missing; luna.has_tls says so.
local t = require("helper")
t.check(not t.luna.has_tls, "this libluna must be the no-TLS build")
local cmd = [[luajit -e '
local t = require("helper")
local luna = t.luna
local app = luna.new_web_app({ name = "tls", host = "127.0.0.1", port = 0,
  ssl = { key = "key.pem", certificate = "cert.pem" }, protocols = { default = function(ws) ws:send("plain") end } })
print(t.py("with connect(URL) as c: print(c.recv(timeout=5))", app.port).finish())
t.done()' 2>&1]]
local f = assert(io.popen(cmd))
local out = f:read("*a")
f:close()
t.check(out:find("[luna tls] warning: this libluna was built without TLS", 1, true), out)
t.check(out:find("plain ws://", 1, true), out)
t.check(out:find("plain\n", 1, true), out)
t.check(out:find("passed", 1, true), out)
t.done()
