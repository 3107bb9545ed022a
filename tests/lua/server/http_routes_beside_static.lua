-- http(req) answers what no static file answers, on the host, with the request's method,
-- path, query, headers and body; files still come from `static` without the hook; a hook
-- that returns nil gives 404, one that raises gives 500 (reported); HEAD gets no body; the
-- connection stays open across answers; bodies over max_body_size get 413.
local t = require("helper")
local luna = t.luna
local root = os.tmpname()
os.remove(root)
assert(os.execute("mkdir -p " .. root))
local f = assert(io.open(root .. "/page.html", "wb"))
f:write("static page")
f:close()
local errors, calls = {}, 0
local app = luna.new_web_app({ name = "web", host = "127.0.0.1", port = 0,
  static = { root = root, cache = "public, max-age=60" },
  no_errors = true, max_body_size = 64,
  error_handler = function(err) errors[#errors + 1] = err end,
  protocols = { default = function(ws) ws:send("ws " .. ws.path) end },
  http = function(req)
    calls = calls + 1
    if req.path == "/api/echo" then
      return 200, req.method .. " " .. req.query .. " " .. req.body .. " " .. (req.headers["x-a"] or "-"),
        { ["Content-Type"] = "application/json", ["X-Served-By"] = "luna" }
    elseif req.path == "/boom" then
      error("route failed on purpose")
    elseif req.path == "/health" then
      return 204
    end
  end })

local p = t.py([[
import http.client
h = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
def ask(method, path, body=None, headers={}):
    h.request(method, path, body=body, headers=headers)
    r = h.getresponse()
    return r.status, r.getheader("Content-Type"), r.getheader("X-Served-By"), r.read().decode()
print("file", ask("GET", "/page.html"))
h.request("HEAD", "/page.html")
r = h.getresponse(); r.read()
print("cache", r.getheader("Cache-Control"))
print("post", ask("POST", "/api/echo?x=1", body="hello", headers={"X-A": "b"}))
print("get", ask("GET", "/api/echo"))
print("head", ask("HEAD", "/api/echo"))
print("health", ask("GET", "/health"))
print("missing", ask("GET", "/nothing"))
print("boom", ask("GET", "/boom"))
h2 = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
h2.request("POST", "/api/echo", body="x" * 65)
print("big", h2.getresponse().status)
with connect(URL + "/live") as c:
    print("ws", c.recv(timeout=5))
]], app.port)
local out = p.finish()
t.check(out:find("file (200, 'text/html; charset=utf-8', None, 'static page')", 1, true), out)
t.check(out:find("post (200, 'application/json', 'luna', 'POST x=1 hello b')", 1, true), out)
t.check(out:find("get (200, 'application/json', 'luna', 'GET   -')", 1, true), out)
t.check(out:find("head (200, 'application/json', 'luna', '')", 1, true), out)
t.check(out:find("health (204, None, None, '')", 1, true), out)
t.check(out:find("missing (404, 'text/plain; charset=utf-8', None, 'not found')", 1, true), out)
t.check(out:find("boom (500, 'text/plain; charset=utf-8', None, 'internal error\\n')", 1, true), out)
t.check(out:find("big 413", 1, true), out)
t.check(out:find("cache public, max-age=60", 1, true), out)
t.check(out:find("ws ws /live", 1, true), out)
-- The file and the oversized body never reached the hook: 6 calls (post, get, head, health,
-- missing, boom), all on one connection.
t.eq(calls, 6, "hook calls")
t.eq(#errors, 1, "errors reported")
t.check(errors[1]:find("route failed on purpose", 1, true), errors[1])
os.execute("rm -rf " .. root)
t.done()
