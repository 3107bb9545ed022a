-- A number a C integer field would cut (1.5 -> 1) or wrap (2^32 + 1 -> 1) is refused as the
-- caller gave it, never sent as another value: a send with such an opcode raises and puts
-- nothing on the wire, and an http or on_upgrade answer with such a status answers 500 and
-- reports the status as the hook returned it.
local t = require("helper")
local luna = t.luna
local errors, raised = {}, {}
local BAD = { 1.5, 2.9, 9.99, 2 ^ 32 + 1, 2 ^ 32 + 2, -1 }
local STATUS = { ["/frac"] = 200.5, ["/wrap"] = 2 ^ 32 + 200, ["/wrap404"] = 2 ^ 32 + 404 }
local app = luna.new_web_app({ name = "numbers", host = "127.0.0.1", port = 0, no_errors = true,
  error_handler = function(err) errors[#errors + 1] = err end,
  protocols = { default = function(ws)
    for _, opcode in ipairs(BAD) do
      local ok, err = pcall(ws.send, ws, "bad", opcode)
      raised[#raised + 1] = not ok and err or "returned " .. tostring(err)
    end
    ws:send("last")
    ws:receive()
  end },
  on_upgrade = function(req)
    if req.path == "/refuse-frac" then return false, 403.5, "no" end
    if req.path == "/refuse-wrap" then return false, 2 ^ 32 + 403, "no" end
    return true
  end,
  http = function(req)
    return STATUS[req.path], "body"
  end })

local p = t.py([[
import http.client
with connect(URL) as c:
    print("first", repr(c.recv(timeout=5)))
for path in ["/frac", "/wrap", "/wrap404"]:
    h = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
    h.request("GET", path)
    r = h.getresponse()
    print("http", path, r.status, r.read().decode().strip())
for path in ["/refuse-frac", "/refuse-wrap"]:
    try:
        connect(URL + path, open_timeout=5)
        print("upgrade", path, "accepted")
    except InvalidStatus as e:
        print("upgrade", path, e.response.status_code)
]], app.port)
local out = p.finish(20)
t.check(out:find("first 'last'", 1, true), out)
for path in pairs(STATUS) do
  t.check(out:find("http " .. path .. " 500 internal error", 1, true), out)
end
t.check(out:find("upgrade /refuse-frac 500", 1, true), out)
t.check(out:find("upgrade /refuse-wrap 500", 1, true), out)
t.eq(#raised, #BAD, "sends tried")
for i, opcode in ipairs(BAD) do
  t.check(raised[i]:find("opcode must be an integer (1 TEXT, 2 BINARY, 9 PING or 10 PONG), got number "
    .. tostring(opcode), 1, true), raised[i])
end
local all = table.concat(errors, "\n")
for _, shown in ipairs({ "200.5", "4294967496", "4294967700", "403.5", "4294967699" }) do
  t.check(all:find("got number " .. shown, 1, true) or all:find("got status number " .. shown, 1, true), all)
end
t.eq(#errors, 5, "errors reported")
t.done()
