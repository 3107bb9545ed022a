-- ws:receive() outside the handler raises a clear error; a handler that yields anything
-- other than through ws:receive() is closed with 1011 and reported.
local t = require("helper")
local luna = t.luna
local saved, reported
local app = luna.new_web_app({ name = "recv", host = "127.0.0.1", port = 0, no_errors = true,
  error_handler = function(e) reported = e end,
  protocols = {
    default = function(ws)
      saved = ws
      ws:receive()
    end,
    yielder = function(ws)
      coroutine.yield("something else")
    end,
  } })
local p = t.py([[
with connect(URL) as c:
    c.send("x"); time.sleep(0.5)
]], app.port)
t.pump_until(function() return saved end, 10, "the connection")
t.raises(function() saved:receive() end, "ws:receive: called outside a coroutine")
local co = coroutine.create(function() return saved:receive() end)
local ok, err = coroutine.resume(co)
t.eq(ok, false, "receive from a foreign coroutine")
t.check(err:find("not the handler of ws#", 1, true), err)
p.finish()

local q = t.py([[
with connect(URL, subprotocols=["yielder"]) as c:
    print("code", closed_code(c)[0])
]], app.port)
local out = q.finish()
t.check(out:find("code 1011", 1, true), out)
t.check(reported and reported:find("a handler may only suspend in ws:receive()", 1, true), tostring(reported))
t.done()
