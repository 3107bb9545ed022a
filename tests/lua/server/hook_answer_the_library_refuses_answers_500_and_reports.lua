-- An on_upgrade or http answer the library refuses for any reason, not only an invalid
-- argument (here a subprotocol name or a header value that is not UTF-8), is never left
-- waiting until handshake_timeout: the client gets 500 at once and the library's words go
-- through the error policy. A header value the library takes goes out as it is.
local t = require("helper")
local luna = t.luna
local errors = {}
local app = luna.new_web_app({ name = "refused", host = "127.0.0.1", port = 0, no_errors = true,
  handshake_timeout = 4,
  error_handler = function(err) errors[#errors + 1] = err end,
  protocols = { default = function(ws) ws:send("open") ws:receive() end },
  on_upgrade = function(req)
    if req.path == "/protocol" then return true, { protocol = "\255" } end
    if req.path == "/header" then return true, { headers = { ["X-V"] = "\255" } } end
    if req.path == "/refuse-header" then return false, 403, "no", { ["X-V"] = "\255" } end
    return true
  end,
  http = function(req)
    return 200, "body", { ["X-V"] = "\255" }
  end })

local p = t.py([[
import http.client, time
def upgrade(path):
    t0 = time.time()
    try:
        with connect(URL + path, open_timeout=8) as c:
            return "accepted %s" % c.recv(timeout=5)
    except InvalidStatus as e:
        return "%d %.1f" % (e.response.status_code, time.time() - t0)
print("protocol", upgrade("/protocol"))
print("header", upgrade("/header"))
print("refuse-header", upgrade("/refuse-header"))
t0 = time.time()
h = http.client.HTTPConnection("127.0.0.1", PORT, timeout=8)
h.request("GET", "/page")
r = h.getresponse()
print("http", r.status, r.read().decode().strip(), "%.1f" % (time.time() - t0))
]], app.port)
local out = p.finish(30)
local answers = {}
for name, answer in out:gmatch("([%w-]+) ([^\n]*)") do answers[name] = answer end
local all = table.concat(errors, "\n")
-- Every library refuses this subprotocol name.
t.check(answers.protocol:find("500 ") == 1, out)
t.check(all:find("luna: on_upgrade: protocol is not valid UTF-8", 1, true), all)
local reported = 1
-- A header value of obs-text bytes goes out as it is, or is refused: then 500 at once, and
-- reported.
for name, taken in pairs({ header = "accepted open", ["refuse-header"] = "403 ", http = "200 body" }) do
  local answer = answers[name]
  if answer:find("500 ") == 1 then
    reported = reported + 1
    t.check(tonumber(answer:match(" ([%d.]+)$")) < 2, name .. " answered at once: " .. answer)
  else
    t.check(answer:find(taken, 1, true) == 1, name .. ": " .. answer)
  end
end
t.eq(#errors, reported, "errors reported: " .. all)
t.done()
