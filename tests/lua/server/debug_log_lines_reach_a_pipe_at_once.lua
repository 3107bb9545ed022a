-- With debug = true and stdout a pipe (block-buffered by C), each log line reaches the reader
-- while the server runs, not when it exits.
local t = require("helper")
local p = t.luajit([[
local luna = require("luna")
local app
app = luna.new_web_app({ name = "piped", host = "127.0.0.1", port = 0, debug = true, protocols = {
  default = function(ws) ws:receive(); app:close() end } })
luna.run()
]])
local port = tonumber(p.wait_for("%[luna piped%] listening on 127%.0%.0%.1 port (%d+)", 5))
t.check(not p.done(), "the listening line arrived while the server runs")
local py = t.py([[
with connect(URL) as c:
    time.sleep(3)
]], port)
p.wait_for("%[luna piped%] (open ws#%d+)", 5)
t.check(not p.done() and not py.done(), "the open line arrived while the connection is open")
py.finish()
local rc, out = p.finish()
t.eq(rc, 0, "server exit status")
t.check(out:find("[luna piped] close ws#", 1, true), out)
t.done()
