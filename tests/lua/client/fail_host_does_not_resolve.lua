-- A .invalid host never resolves: "host not found (DNS)", then one on_close 1006.
local t = require("client_helper")
t.failure_scenario({ url = "ws://no-such-host.invalid:8080/chat" }, "host not found (DNS)")
t.done()
