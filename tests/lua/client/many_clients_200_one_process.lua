-- 200 lunac clients in one process against one server (the luna module): each sends 5
-- messages and gets its own echoes back, in order; all close cleanly.
local t = require("client_helper")
local luna, lunac = t.luna, t.lunac
local srv = luna.new_web_app({ name = "many", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws)
    while true do
      local msg = ws:receive()
      if not msg then return end
      ws:send(msg)
    end
  end } })
local url = ("ws://127.0.0.1:%d/"):format(srv.port)
local N, M = 200, 5
local got, closed, errors = {}, 0, {}
for i = 1, N do
  got[i] = {}
  lunac.connect_to_web_app({ url = url, name = "client " .. i,
    error_handler = function(err) errors[#errors + 1] = err end,
    on_connect = function(self) for j = 1, M do self:send(i .. ":" .. j) end end,
    on_message = function(self, msg)
      local list = got[i]
      list[#list + 1] = msg
      if #list == M then self:close() end
    end,
    on_close = function(self, code) if code == 1000 then closed = closed + 1 end end })
end
t.eq(#lunac.apps(), N, "live clients")
t.pump_until(function() return closed == N or #errors > 0 end, 30, "every client to finish")
t.eq(#errors, 0, "errors: " .. table.concat(errors, "; "))
for i = 1, N do
  for j = 1, M do t.eq(got[i][j], i .. ":" .. j, "client " .. i .. " message " .. j) end
end
t.eq(#lunac.apps(), 0, "closed clients are forgotten")
t.done()
