-- Session resume end to end: a LuaJIT server with resume, lunac with reconnect, and between
-- them a proxy that resets 100 connections at random points (mid-frame included). 10,000
-- numbered messages go each way (the server answers each client message with its own
-- numbered one): both sides get every number once, in order. The server's handler sees one
-- connection throughout (ws.resumed counts the client's returns), and each reconnect of the client is
-- a resume (on_connect(self, true)). Then all again with permessage-deflate on both sides:
-- what is sent again goes through the new connection's own compression context.
local t = require("client_helper")
local luna, lunac = t.luna, t.lunac

local N, CUTS, WINDOW = 10000, 100, 64

local function run(compression)
  local server = { opens = 0, next = 1, wrong = {}, resumed = 0, closed = false }
  local srv = luna.new_web_app({ name = "resume " .. tostring(compression), host = "127.0.0.1", port = 0,
    resume = { window = 10 }, compression = compression,
    protocols = { default = function(ws)
      server.opens = server.opens + 1
      local sent = 0
      while true do
        local msg = ws:receive()
        if not msg then server.closed = true return end
        local n = tonumber(msg:match("^c(%d+)$"))
        if n ~= server.next and #server.wrong < 5 then
          server.wrong[#server.wrong + 1] = ("expected c%d, got %s"):format(server.next, msg)
        end
        server.next = (n or server.next) + 1
        sent = sent + 1
        ws:send("s" .. sent)
        server.resumed = ws.resumed
      end
    end } })
  local proxy = t.cutting_proxy(srv.port, CUTS, 100, 2500, 11)

  local client = { connects = {}, next = 1, wrong = {}, sent = 0 }
  local app
  local function top_up(self)
    while client.sent < N and client.sent - (client.next - 1) < WINDOW do
      client.sent = client.sent + 1
      assert(self:send("c" .. client.sent))
    end
  end
  app = lunac.connect_to_web_app({
    url = ("ws://127.0.0.1:%d/"):format(proxy.port), compression = compression,
    reconnect = { min_delay = 0.01, max_delay = 0.05 },
    error_handler = function() end,
    on_connect = function(self, resumed)
      client.connects[#client.connects + 1] = resumed
      top_up(self)
    end,
    on_message = function(self, msg)
      local n = tonumber(msg:match("^s(%d+)$"))
      if n ~= client.next and #client.wrong < 5 then
        client.wrong[#client.wrong + 1] = ("expected s%d, got %s"):format(client.next, msg)
      end
      client.next = (n or client.next) + 1
      top_up(self)
    end,
  })

  t.pump_until(function() return client.next > N and server.next > N end, 60,
    "10,000 messages each way through the cuts (compression " .. tostring(compression) .. ")")
  t.eq(#server.wrong, 0, "server: every number once, in order: " .. table.concat(server.wrong, "; "))
  t.eq(#client.wrong, 0, "client: every number once, in order: " .. table.concat(client.wrong, "; "))
  t.eq(proxy.cuts(), CUTS, "cuts made")
  t.eq(server.opens, 1, "the handler saw one connection")
  t.eq(client.connects[1], false, "the first connect starts a session")
  local resumes = 0
  for i = 2, #client.connects do
    t.eq(client.connects[i], true, "reconnect " .. (i - 1) .. " resumed")
    resumes = resumes + 1
  end
  t.check(resumes >= 1, "the client came back at least once")
  -- The server counts every return, those whose answer a cut kept from the client included.
  t.check(server.resumed >= resumes, ("ws.resumed counts the returns (%d for %d resumes)")
    :format(server.resumed, resumes))
  t.eq(server.closed, false, "the session never closed")
  app:close()
  t.pump_until(function() return server.closed end, 10, "the session's end reaches the handler")
  if compression then t.eq(app.compressed, true, "compressed") end
  luna.remove_web_app(srv)
end

run(false)
run("dedicated")
t.done()
