-- `ssl = { key, cert }` serves wss:// (with `certificate` as an alias and an encrypted key's
-- `password`); a broken certificate is an error naming the file, never a silent ws://.
local t = require("helper")
local luna = t.luna
t.check(luna.has_tls, "this libluna has TLS")
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir) == 0)
local function sh(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  t.check(ok == 0, "command failed: " .. cmd)
end
sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "
  .. dir .. "/key.pem -out " .. dir .. "/cert.pem")
sh("openssl pkcs8 -topk8 -in " .. dir .. "/key.pem -v2 aes-256-cbc -passout pass:s3cret -out " .. dir .. "/enc.pem")
local app = luna.new_web_app({ name = "wss", host = "127.0.0.1", port = 0,
  ssl = { key = dir .. "/enc.pem", certificate = dir .. "/cert.pem", password = "s3cret" },
  protocols = { default = function(ws)
    ws:send(ws.raw_socket.tls and "tls" or "plain")
    while ws:receive() do end
  end } })
t.check(app.tls, "app.tls")
local p = t.py(string.format([[
import ssl
ctx = ssl.create_default_context(cafile=%q)
with connect("wss://localhost:%%d" %% PORT, ssl=ctx) as c: print(c.recv(timeout=5))
]], dir .. "/cert.pem"), app.port)
local out = p.finish(20)
t.check(out:find("tls\n", 1, true), out)
luna.remove_web_app(app)
local ok, err = pcall(luna.new_web_app, { name = "bad", host = "127.0.0.1", port = 0,
  ssl = { key = dir .. "/key.pem", cert = dir .. "/missing.pem" }, protocols = { default = print } })
t.check(not ok and tostring(err):find("missing.pem", 1, true), tostring(err))
ok, err = pcall(luna.new_web_app, { name = "bad2", host = "127.0.0.1", port = 0,
  ssl = { key = dir .. "/enc.pem", cert = dir .. "/cert.pem", password = "wrong" }, protocols = { default = print } })
t.check(not ok and tostring(err):find("password", 1, true), tostring(err))
os.execute("rm -rf " .. dir)
t.done()
