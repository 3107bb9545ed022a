-- lunac against Node's ws: text, binary, empty and 16 MiB echoes, client close.
local t = require("client_helper")
t.echo_scenario("node")
t.done()
