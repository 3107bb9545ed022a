-- A message larger than max_send_queue could never be queued: ws:send, app:publish and
-- app:broadcast return nil and an error saying so, even on an empty queue; nothing is sent
-- and nothing reaches error_handler. A message of exactly the limit still goes, and the
-- connection carries on.
local t = require("helper")
local luna = t.luna
local results, errors = nil, {}
local app
app = luna.new_web_app({ name = "too_large", host = "127.0.0.1", port = 0,
  max_send_queue = 1000, error_handler = function(e) errors[#errors + 1] = e end,
  protocols = { default = function(ws)
    local big = string.rep("x", 1001)
    ws:subscribe("room")
    local r = {}
    r.send = { ws:send(big) }
    r.publish = { app:publish("room", big) }
    r.broadcast = { app:broadcast(big) }
    r.limit = { ws:send(string.rep("y", 1000)) }
    results = r
    r.after = { ws:send("after " .. ws:receive()) }
    ws:receive()
  end } })
local p = t.py([[
with connect(URL) as c:
    print(len(c.recv(timeout=5)))
    c.send("ping")
    print(c.recv(timeout=5))
]], app.port)
local out = p.finish()
t.check(out:find("1000\nafter ping", 1, true), "only what fits arrives: " .. out)
local too_large = "message of 1001 bytes is larger than max_send_queue (1000 bytes)"
for _, call in ipairs({ "send", "publish", "broadcast" }) do
  local r = results[call]
  t.eq(r[1], nil, call .. " result")
  t.check(tostring(r[2]):find(too_large, 1, true), call .. ": " .. tostring(r[2]))
end
t.check(results.send[2]:find("^ws:send: "), results.send[2])
t.check(results.publish[2]:find("^app:publish: "), results.publish[2])
t.eq(results.limit[1], true, "a message of exactly max_send_queue")
t.eq(results.after[1], true, "the connection carries on")
t.eq(#errors, 0, "refusals are answers, not app errors: " .. tostring(errors[1]))
t.done()
