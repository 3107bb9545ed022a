-- One node of a cluster test: a server app joined to the Redis at arg[1] (prefix "t:").
-- A client sends "sub:TOPIC", "unsub:TOPIC" (answered "ok"), or "pub:TOPIC:TEXT" (answered
-- "count:N", the local connections reached). Prints "ready PORT"; exits after 60 s.
package.path = "ffi-lua/?.lua;ffi-lua/?/init.lua;" .. package.path
local luna = require("luna")
io.stdout:setvbuf("line")
local app = luna.new_web_app({ name = "node", host = "127.0.0.1", port = 0, no_errors = true,
  cluster = { redis = arg[1], prefix = "t:" },
  error_handler = function(err) io.stderr:write(err, "\n") end,
  protocols = { default = function(ws)
    while true do
      local msg = ws:receive()
      if not msg then return end
      local verb, topic, text = msg:match("^(%a+):([^:]*):?(.*)$")
      if verb == "sub" then
        ws:subscribe(topic)
        ws:send("ok")
      elseif verb == "unsub" then
        ws:unsubscribe(topic)
        ws:send("ok")
      elseif verb == "pub" then
        ws:send("count:" .. tostring(ws:publish(topic, text)))
      end
    end
  end } })
print("ready " .. app.port)
local deadline = os.time() + 60
while os.time() < deadline and #luna.apps() > 0 do
  luna.wait(0.2)
end
