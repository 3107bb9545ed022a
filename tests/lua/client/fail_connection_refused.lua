-- Nothing listens on the port: "connection refused", then one on_close 1006.
local t = require("client_helper")
-- A port that was free a moment ago: bound, then released, by a short Python program.
local p = io.popen(t.python .. [[ -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"]])
local port = tonumber(p:read("*a"))
p:close()
t.check(port, "a free port")
t.failure_scenario({ url = ("ws://127.0.0.1:%d/"):format(port) }, "connection refused")
t.done()
