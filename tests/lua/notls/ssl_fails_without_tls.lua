-- A libluna built without TLS (`make TLS=0`) refuses `ssl`, as the C API does
-- (LUNA_RESULT_UNSUPPORTED): new_web_app raises, or returns nil, err with no_errors, saying
-- the library was built without TLS; nothing is served, in plain ws:// or otherwise. lunac
-- refuses wss:// the same way. luna.has_tls says which build this is.
local t = require("helper")
local luna = t.luna
local lunac = require("lunac")
t.check(not luna.has_tls, "this libluna must be the no-TLS build")
t.check(not lunac.has_tls, "lunac.has_tls")
local h = { default = function(ws) ws:send("plain") end }
local ssl = { key = "key.pem", certificate = "cert.pem" }

local err = t.raises(function()
  luna.new_web_app({ name = "tls", host = "127.0.0.1", port = 0, ssl = ssl, protocols = h })
end, "built without TLS")
t.check(err:find("ssl_fails_without_tls.lua:", 1, true), "raised at the caller: " .. err)
local seen
local app, why = luna.new_web_app({ name = "tls", host = "127.0.0.1", port = 0, ssl = ssl,
  protocols = h, no_errors = true, error_handler = function(e) seen = e end })
t.eq(app, nil, "an app with ssl in a build without TLS")
t.check(why:find("built without TLS", 1, true), why)
t.eq(seen, why, "error_handler got it")
t.eq(#luna.apps(), 0, "nothing half-started")
-- The name is free, and without ssl the same app serves ws://.
app = luna.new_web_app({ name = "tls", host = "127.0.0.1", port = 0, protocols = h })
t.check(t.py("with connect(URL) as c: print(c.recv(timeout=5))", app.port).finish():find("plain", 1, true),
  "plain ws:// without ssl")

local client, cerr = lunac.connect_to_web_app({ url = "wss://127.0.0.1:9/", no_errors = true })
t.eq(client, nil, "a wss:// client in a build without TLS")
t.check(cerr:find("built without TLS", 1, true), cerr)
t.done()
