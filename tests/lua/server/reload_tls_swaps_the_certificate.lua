-- app:reload_tls{ cert, key }: a Python client that trusts only the second certificate
-- cannot connect before the reload and can after it; a connection opened before keeps working;
-- a bad pair is refused (nil, err and error_handler) and leaves the current one in place.
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
for _, name in ipairs({ "one", "two" }) do
  sh(("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=%s -addext subjectAltName=DNS:localhost -keyout %s/%s.key -out %s/%s.pem")
    :format(name, dir, name, dir, name))
end
local errors = {}
local app = luna.new_web_app({ name = "reload", host = "127.0.0.1", port = 0, no_errors = true,
  error_handler = function(err) errors[#errors + 1] = err end,
  ssl = { cert = dir .. "/one.pem", key = dir .. "/one.key" },
  protocols = { default = function(ws)
    while true do
      local message = ws:receive()
      if not message then return end
      ws:send(message)
    end
  end } })

-- The Python peer waits for "reloaded" (a file) between its two steps.
local flag = dir .. "/reloaded"
local p = t.py(([[
import ssl, os
def ctx(name):
    return ssl.create_default_context(cafile="%s/" + name + ".pem")
early = connect("wss://localhost:%%d" %% PORT, ssl=ctx("one"))
early.send("before"); print("early:", early.recv(timeout=5))
try:
    connect("wss://localhost:%%d" %% PORT, ssl=ctx("two"), open_timeout=5)
    print("two before reload: accepted")
except ssl.SSLError:
    print("two before reload: refused")
open("%s.ready", "w").close()
while not os.path.exists("%s"): time.sleep(0.02)
with connect("wss://localhost:%%d" %% PORT, ssl=ctx("two")) as c:
    c.send("after"); print("two after reload:", c.recv(timeout=5))
early.send("still"); print("early after reload:", early.recv(timeout=5))
]]):format(dir, flag, flag), app.port)
t.pump_until(function() return io.open(flag .. ".ready") ~= nil end, 15, "the first step")

local ok, err = app:reload_tls({ cert = dir .. "/two.pem", key = dir .. "/one.key" })
t.check(ok == nil and err:find("does not match", 1, true), tostring(err))
t.check(errors[#errors]:find("app:reload_tls: ", 1, true), errors[#errors])
t.eq(app:reload_tls({ cert = dir .. "/two.pem", key = dir .. "/two.key" }), true, "reload")
assert(io.open(flag, "w")):close()
local out = p.finish(20)
t.check(out:find("early: before", 1, true), out)
t.check(out:find("two before reload: refused", 1, true), out)
t.check(out:find("two after reload: after", 1, true), out)
t.check(out:find("early after reload: still", 1, true), out)

t.raises(function() app:reload_tls("two.pem") end, "app:reload_tls: expected a table")
t.raises(function() app:reload_tls({ cert = dir .. "/two.pem" }) end, "'key' must be a file path string")
local plain = luna.new_web_app({ name = "plain", host = "127.0.0.1", port = 0,
  protocols = { default = function() end } })
t.raises(function() plain:reload_tls({ cert = dir .. "/two.pem", key = dir .. "/two.key" }) end,
  "plain ws://")
os.execute("rm -rf " .. dir)
t.done()
