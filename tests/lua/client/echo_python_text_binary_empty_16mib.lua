-- lunac against Python websockets: text, binary, empty and 16 MiB echoes, client close.
local t = require("client_helper")
t.echo_scenario("py")
t.done()
