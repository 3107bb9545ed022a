-- reconnect = {...}: lunac comes back after each of 12 connections a proxy resets at random
-- points (mid-frame included) and 150 echoes get through; on_connect(self, false) runs after
-- every (re)connect, app.state says "reconnecting" in between, and what is sent meanwhile is
-- held and delivered once a connection opens. app:close() then ends it: one on_close, no
-- further attempt. Without a session to resume, a message in flight may be lost with its
-- connection, so one unanswered is sent again after each reconnect.
local t = require("client_helper")
local luna, lunac = t.luna, t.lunac

local srv = luna.new_web_app({ name = "echo", host = "127.0.0.1", port = 0,
  protocols = { default = function(ws)
    while true do
      local msg, op = ws:receive()
      if not msg then return end
      ws:send(msg, op)
    end
  end } })
local proxy = t.cutting_proxy(srv.port, 12, 100, 2500, 3)

local connects, resumed_flags, echoed, next_n, in_flight = 0, {}, 0, 1, nil
local held, held_echoed, saw_reconnecting, closes = 0, 0, 0, {}
local body = ("x"):rep(90)
local function send_next(app)
  in_flight = ("m%d %s"):format(next_n, body)
  assert(app:send(in_flight))
end
local app = lunac.connect_to_web_app({
  url = ("ws://127.0.0.1:%d/"):format(proxy.port),
  reconnect = { min_delay = 0.01, max_delay = 0.05 },
  error_handler = function() end,
  on_connect = function(self, resumed)
    connects = connects + 1
    resumed_flags[#resumed_flags + 1] = resumed
    if in_flight then assert(self:send(in_flight)) else send_next(self) end
  end,
  on_message = function(self, msg)
    if msg:sub(1, 1) == "q" then held_echoed = held_echoed + 1 return end
    if msg ~= in_flight then return end   -- the echo of a message sent twice
    echoed, next_n, in_flight = echoed + 1, next_n + 1, nil
    if next_n <= 150 then send_next(self) end
  end,
  on_close = function(self, code) closes[#closes + 1] = code end,
})

local last_state
t.pump_until(function()
  if app.state == "reconnecting" and last_state ~= "reconnecting" then
    saw_reconnecting = saw_reconnecting + 1
    local ok = app:send("q" .. held)   -- held in Lua until the next connection opens
    t.eq(ok, true, "a send while reconnecting is held")
    held = held + 1
  end
  last_state = app.state
  return echoed == 150
end, 30, "150 echoes through the cuts")

t.eq(proxy.cuts(), 12, "the proxy cut 12 connections")
t.check(connects >= 2, "reconnected (" .. connects .. " connects)")
t.check(saw_reconnecting >= 1, "app.state was \"reconnecting\" between connections")
for i, flag in ipairs(resumed_flags) do t.eq(flag, false, "on_connect resumed #" .. i) end
t.check(held_echoed >= 1, ("held sends delivered after a reconnect (%d of %d)"):format(held_echoed, held))
t.eq(#closes, 0, "no on_close while reconnecting")

app:close(1000, "done")
t.pump_until(function() return #closes == 1 end, 10, "on_close after close()")
local connects_at_close = connects
for _ = 1, 20 do lunac.wait(0.01) end
t.eq(closes[1], 1000, "on_close code")
t.eq(app.state, "closed", "state")
t.eq(connects, connects_at_close, "no attempt after close()")
local ok, err = app:send("late")
t.eq(ok, nil, "send after close")
t.eq(err, "closed", "send after close says why")
t.done()
