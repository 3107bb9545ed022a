-- wss:// against Python websockets with a self-signed certificate (made here by openssl):
-- verification on (the default) fails with "TLS failure" and one on_close 1006;
-- ssl.cafile = that certificate connects and echoes text, binary and 16 MiB; ssl.verify = false
-- connects too.
local t = require("client_helper")
local lunac = t.lunac
t.eq(lunac.has_tls, true, "the library supports wss://")
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)
local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
local rc = os.execute(("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
  .. "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout %q -out %q > %q/openssl.log 2>&1")
  :format(key, cert, dir))
t.check(rc == 0 or rc == true, "openssl could not make a certificate (is openssl installed?)")
local peer = t.server("py", "tls", cert, key, "2")
local url = ("wss://localhost:%d/secure"):format(peer.port)

t.failure_scenario({ url = url, name = "verify" }, "TLS failure")

local trusted = t.recorder({ url = url, name = "cafile", ssl = { cafile = cert } })
t.pump_until(function() return trusted.app.state == "open" end, 10, "open with cafile")
trusted.app:send("secret")
t.pump_until(function() return #trusted.messages == 1 end, 10, "echo over TLS")
t.eq(trusted.messages[1][1], "secret", "echo")
-- Binary and a 16 MiB message cross Python's TLS stack intact too.
local binary = "\0\1\2\255"
local big = string.rep("0123456789abcdef", 1024 * 1024)
trusted.app:send(binary, lunac.opcodes.BINARY)
trusted.app:send(big, lunac.opcodes.BINARY)
t.pump_until(function() return #trusted.messages == 3 end, 30, "binary and 16 MiB echoes over TLS")
t.eq(trusted.messages[2][1], binary, "binary echo")
t.eq(trusted.messages[2][2], lunac.opcodes.BINARY, "binary opcode")
t.check(trusted.messages[3][1] == big, "16 MiB echo intact")
t.eq(#trusted.errors, 0, "no errors")

local unverified = t.recorder({ url = url, name = "noverify", ssl = { verify = false } })
t.pump_until(function() return unverified.app.state == "open" end, 10, "open without verification")
lunac.close()
t.eq(trusted.closes + unverified.closes, 2, "both closed by lunac.close")
peer.finish()
os.execute(("rm -rf %q"):format(dir))
t.done()
