-- The C ABI has no TLS server fields yet: `ssl` with readable files prints a warning and
-- serves plain ws://; `certificate` is accepted for `cert`; unreadable files are an error.
local t = require("helper")
local cmd = [[luajit -e '
local t = require("helper")
local luna = t.luna
local key, cert = os.tmpname(), os.tmpname()
local app = luna.new_web_app({ name = "tls", host = "127.0.0.1", port = 0,
  ssl = { key = key, certificate = cert }, protocols = { default = function(ws) ws:send("plain") end } })
print(t.py("with connect(URL) as c: print(c.recv(timeout=5))", app.port).finish())
os.remove(key); os.remove(cert)
t.done()' 2>&1]]
local f = assert(io.popen(cmd))
local out = f:read("*a")
f:close()
t.check(out:find("[luna tls] warning: 'ssl' is not supported", 1, true), out)
t.check(out:find("serving plain ws://", 1, true), out)
t.check(out:find("plain\n", 1, true), out)
t.check(out:find("passed", 1, true), out)
t.raises(function()
  t.luna.new_web_app({ name = "x", host = "127.0.0.1", port = 0, ssl = { key = "/nope.key", cert = "/nope.crt" },
    protocols = { default = print } })
end, "cannot read")
t.done()
