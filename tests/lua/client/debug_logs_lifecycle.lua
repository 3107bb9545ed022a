-- debug = true logs connecting, open, messages, close and errors to stdout, prefixed with
-- "[lunac NAME]"; without it nothing is printed.
local t = require("client_helper")
local lunac = t.lunac
local lines = {}
local real_print = print
print = function(...) lines[#lines + 1] = table.concat({ ... }, " ") end
local peer = t.server("node", "echo", "2")
local loud = t.recorder({ url = peer.url, name = "loud", debug = true })
local quiet = t.recorder({ url = peer.url, name = "quiet" })
t.pump_until(function() return loud.app.state == "open" and quiet.app.state == "open" end, 10, "open")
loud.app:send("hi"); quiet.app:send("hi")
t.pump_until(function() return #loud.messages == 1 and #quiet.messages == 1 end, 10, "echoes")
loud.app:close(); quiet.app:close()
t.pump_until(function() return loud.closes == 1 and quiet.closes == 1 end, 10, "closes")
local failing = t.recorder({ url = "ws://no-such-host.invalid/", name = "oops", debug = true })
t.pump_until(function() return failing.closes == 1 end, 10, "failure")
print = real_print
local text = table.concat(lines, "\n")
for _, want in ipairs({ "[lunac loud] connecting to " .. peer.url, "[lunac loud] open",
    "[lunac loud] message opcode 1, 2 bytes", "[lunac loud] close code 1000",
    "[lunac oops] oops: connection failed: host not found (DNS)", "[lunac oops] close code 1006" }) do
  t.check(text:find(want, 1, true), ("log has %q:\n%s"):format(want, text))
end
t.check(not text:find("quiet", 1, true), "nothing logged without debug:\n" .. text)
peer.finish()
t.done()
