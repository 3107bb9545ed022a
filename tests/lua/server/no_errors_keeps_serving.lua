-- With no_errors, a handler error goes to error_handler (with traceback), closes that
-- connection with 1011, nothing is raised, and the app keeps serving.
local t = require("helper")
local luna = t.luna
local errors = {}
local app = luna.new_web_app({ name = "quiet", host = "127.0.0.1", port = 0, no_errors = true,
  error_handler = function(e) errors[#errors + 1] = e end,
  protocols = { default = function(ws)
    local msg = ws:receive()
    if msg == "boom" then error("kaboom") end
    ws:send("fine:" .. msg)
  end } })
local p = t.py([[
with connect(URL) as c:
    c.send("boom"); print("code", closed_code(c)[0])
with connect(URL) as c:
    c.send("again"); print(c.recv(timeout=5))
]], app.port)
local out = p.finish() -- luna.wait inside would raise if the error propagated
t.check(out:find("code 1011", 1, true), out)
t.check(out:find("fine:again", 1, true), out)
t.eq(#errors, 1, "errors reported")
t.check(errors[1]:find("kaboom", 1, true) and errors[1]:find("stack traceback", 1, true), errors[1])
t.done()
