-- on_upgrade(req) decides every handshake on the host: accept with data for the handler,
-- a chosen subprotocol and a Set-Cookie on the 101; refuse with a status and body the client
-- sees; a hook that raises, returns nothing or adds a field luna writes refuses with 500 and
-- reports the error.
local t = require("helper")
local luna = t.luna
local errors = {}
local function handler(ws)
  ws:send(("user=%s protocol=%s path=%s"):format(tostring(ws.data and ws.data.user),
    tostring(ws.protocol), ws.path))
end
local app = luna.new_web_app({ name = "up", host = "127.0.0.1", port = 0, no_errors = true,
  error_handler = function(err) errors[#errors + 1] = err end,
  protocols = { a = handler, b = handler, default = handler },
  on_upgrade = function(req)
    local q = luna.parse_query(req.query)
    if req.path == "/boom" then error("hook failed on purpose") end
    if req.path == "/nothing" then return end
    if req.path == "/reserved" then return true, { headers = { ["Content-Length"] = "1" } } end
    if q.token ~= "s3cret" then
      return false, 401, "who are you?", { ["WWW-Authenticate"] = "Token" }
    end
    req.data = { user = q.user }
    return true, { protocol = q.pick, headers = { ["Set-Cookie"] = { "session=abc; HttpOnly", "theme=dark" } } }
  end })

local p = t.py([[
def refused(path):
    try:
        connect(URL + path, open_timeout=5)
        return "accepted"
    except InvalidStatus as e:
        return "%d %s %s" % (e.response.status_code, e.response.body.decode().strip(),
                             e.response.headers.get("WWW-Authenticate"))
with connect(URL + "/play?token=s3cret&user=ann&pick=b", subprotocols=["a", "b"]) as c:
    print("ok", c.recv(timeout=5), c.response.headers.get_all("Set-Cookie"))
with connect(URL + "/play?token=s3cret&user=bob") as c:
    print("ok2", c.recv(timeout=5))
print("no token", refused("/play"))
print("boom", refused("/boom"))
print("nothing", refused("/nothing"))
print("reserved", refused("/reserved?token=s3cret"))
]], app.port)
local out = p.finish()
t.check(out:find("ok user=ann protocol=b path=/play ['session=abc; HttpOnly', 'theme=dark']", 1, true), out)
t.check(out:find("ok2 user=bob protocol=nil path=/play", 1, true), out)
t.check(out:find("no token 401 who are you? Token", 1, true), out)
t.check(out:find("boom 500 internal error None", 1, true), out)
t.check(out:find("nothing 500 internal error None", 1, true), out)
t.check(out:find("reserved 500 internal error None", 1, true), out)
local all = table.concat(errors, "\n")
t.check(all:find("hook failed on purpose", 1, true), all)
t.check(all:find("must return true or false", 1, true), all)
t.check(all:find("Content-Length", 1, true), all)
t.eq(#errors, 3, "errors reported")
t.raises(function() luna.new_web_app({ name = "bad", host = "127.0.0.1", port = 0,
  on_upgrade = "yes", protocols = { default = handler } }) end, "'on_upgrade'")
t.done()
