-- Without no_errors, a handler error closes its connection with 1011 and is re-raised from
-- luna.update (with a traceback); the app keeps serving other connections.
local t = require("helper")
local luna = t.luna
local app = luna.new_web_app({ name = "raise", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws)
    local msg = ws:receive()
    if msg == "boom" then error("kaboom") end
    ws:send("fine:" .. msg)
  end } })
local p = t.py([[
with connect(URL) as c:
    c.send("boom"); print("code", closed_code(c)[0])
]], app.port)
local raised
local deadline = os.time() + 10
while not raised and os.time() <= deadline do
  local ok, err = pcall(luna.wait, 0.05)
  if not ok then raised = err end
end
t.check(raised, "luna.update raised the handler error")
t.check(raised:find("kaboom", 1, true), raised)
t.check(raised:find("handler of ws#", 1, true), raised)
t.check(raised:find("stack traceback", 1, true), raised)
local out = p.finish()
t.check(out:find("code 1011", 1, true), out)
local q = t.py([[
with connect(URL) as c:
    c.send("again"); print(c.recv(timeout=5))
]], app.port)
out = q.finish()
t.check(out:find("fine:again", 1, true), out)
t.done()
