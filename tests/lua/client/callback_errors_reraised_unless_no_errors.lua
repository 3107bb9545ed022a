-- An error in on_message goes to error_handler (with a traceback) and is re-raised from
-- lunac.update; with no_errors it is only reported. The connection stays open either way.
local t = require("client_helper")
local lunac = t.lunac
local peer = t.server("py", "echo", "2")
local errs = {}
local strict = lunac.connect_to_web_app({ url = peer.url, name = "strict",
  error_handler = function(e) errs[#errs + 1] = e end,
  on_connect = function(self) self:send("boom") end,
  on_message = function(self, msg) error("bad message " .. msg) end })
local raised
local deadline = os.time() + 10
while not raised and os.time() < deadline do
  local ok, e = pcall(lunac.wait, 0.02)
  if not ok then raised = e end
end
t.check(raised and raised:find("bad message boom", 1, true), "re-raised from update: " .. tostring(raised))
t.eq(#errs, 1, "error_handler calls")
t.check(errs[1]:find("on_message of \"strict\" failed", 1, true) and errs[1]:find("traceback", 1, true), errs[1])
t.eq(strict.state, "open", "still open")

local quiet_errs, echoes = {}, 0
local quiet = lunac.connect_to_web_app({ url = peer.url, name = "quiet", no_errors = true,
  error_handler = function(e) quiet_errs[#quiet_errs + 1] = e end,
  on_connect = function(self) self:send("one"); self:send("two") end,
  on_message = function(self, msg) echoes = echoes + 1; error("oops " .. msg) end })
t.pump_until(function() return echoes == 2 end, 10, "both echoes despite errors")
t.eq(#quiet_errs, 2, "both errors reported")
t.eq(quiet.state, "open", "still open")
t.done()
