-- reconnect: what ends it. A server that goes away (luna.remove_web_app: 1001) and comes
-- back on the same port gets the client back. A close the server means (1008), or a
-- handshake it refuses (403), ends the client at once. Where nothing listens, each failed
-- attempt reaches error_handler and after max_attempts retries on_close(1006) runs once;
-- lunac.run() keeps going while a client waits to reconnect and returns when it gives up.
local t = require("client_helper")
local luna, lunac = t.luna, t.lunac

local function recorder(port, extra)
  local rec = { connects = 0, closes = {}, errors = {} }
  local config = {
    url = ("ws://127.0.0.1:%d/"):format(port),
    reconnect = { min_delay = 0.01, max_delay = 0.02, max_attempts = 3 },
    error_handler = function(err) rec.errors[#rec.errors + 1] = err end,
    on_connect = function() rec.connects = rec.connects + 1 end,
    on_close = function(_, code, reason) rec.closes[#rec.closes + 1] = { code, reason } end,
  }
  for k, v in pairs(extra or {}) do config[k] = v end
  rec.app = lunac.connect_to_web_app(config)
  return rec
end

local function idle(ws) while ws:receive() do end end

-- The server goes away and comes back on the same port.
local srv = luna.new_web_app({ name = "first", host = "127.0.0.1", port = 0,
  protocols = { default = idle } })
local port = srv.port
local rec = recorder(port, { reconnect = { min_delay = 0.2, max_delay = 0.4 } })
t.pump_until(function() return rec.connects == 1 end, 10, "the first connect")
luna.remove_web_app(srv)
t.pump_until(function() return rec.app.state == "reconnecting" end, 10, "reconnecting")
srv = luna.new_web_app({ name = "second", host = "127.0.0.1", port = port,
  protocols = { default = idle } })
t.pump_until(function() return rec.connects == 2 end, 10, "the reconnect to the new server")
t.eq(#rec.closes, 0, "no on_close across the restart")
t.eq(rec.app.state, "open", "open again")
rec.app:close()
t.pump_until(function() return #rec.closes == 1 end, 10, "closed")

-- A close the server means is not retried.
local policy = luna.new_web_app({ name = "policy", host = "127.0.0.1", port = 0,
  protocols = { default = function(ws) ws:close(1008, "policy") end } })
rec = recorder(policy.port)
t.pump_until(function() return #rec.closes == 1 end, 10, "on_close after 1008")
for _ = 1, 10 do lunac.wait(0.01); luna.update() end
t.eq(rec.closes[1][1], 1008, "code")
t.eq(rec.connects, 1, "no reconnect after 1008")
t.eq(rec.app.state, "closed", "closed")

-- A refused handshake is not retried.
local refusing = luna.new_web_app({ name = "refusing", host = "127.0.0.1", port = 0,
  protocols = { default = idle }, on_upgrade = function() return false, 403 end })
rec = recorder(refusing.port)
t.pump_until(function() return #rec.closes == 1 end, 10, "on_close after 403")
t.eq(#rec.errors, 1, "one failure reported")
t.check(rec.errors[1]:find("HTTP status 403", 1, true), rec.errors[1])
t.eq(rec.connects, 0, "never connected")

-- Nothing listens: 1 + 3 attempts, each reported, then one on_close; run returns.
local closed_port = luna.new_web_app({ name = "gone", host = "127.0.0.1", port = 0,
  protocols = { default = idle } }).port
luna.remove_web_app("gone")
rec = recorder(closed_port)
t.eq(#lunac.apps(), 1, "the client is live")
t.eq(lunac.run(), nil, "run returns once the client gave up")
t.eq(#rec.errors, 4, "every failed attempt reported")
t.check(rec.errors[4]:find("connection refused", 1, true), rec.errors[4])
t.eq(#rec.closes, 1, "one on_close")
t.eq(rec.closes[1][1], 1006, "code")
t.eq(rec.app.state, "closed", "closed")
t.eq(#lunac.apps(), 0, "no client left")
t.done()
