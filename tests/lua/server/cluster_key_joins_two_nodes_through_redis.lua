-- cluster = { redis = ..., prefix = ... }: the key is checked (types here, the URL by the
-- library); two apps in this process share a real Redis: ws:publish on node B reaches the
-- room on node A (count 0: B's only subscriber is the sender), app:broadcast on A reaches
-- both nodes; Redis killed, the error reaches error_handler and local publish goes on.
local t = require("helper")
local luna = t.luna
local h = { default = function() end }

local function base(over)
  local c = { name = "cfg", host = "127.0.0.1", port = 0, protocols = h }
  for k, v in pairs(over) do c[k] = v end
  return c
end

t.raises(function() luna.new_web_app(base({ cluster = "redis://x" })) end, "'cluster' must be a table")
t.raises(function() luna.new_web_app(base({ cluster = {} })) end, "'cluster.redis' must be a URL string")
t.raises(function() luna.new_web_app(base({ cluster = { redis = "redis://h", prefix = 1 } })) end,
  "'cluster.prefix' must be a non-empty string")
t.raises(function() luna.new_web_app(base({ cluster = { redis = "redis://h", prefix = "" } })) end,
  "'cluster.prefix' must be a non-empty string")
t.raises(function() luna.new_web_app(base({ cluster = { redis = "redis://h", db = 1 } })) end,
  "'cluster.db' must be absent")
t.raises(function() luna.new_web_app(base({ cluster = { redis = "http://h" } })) end,
  "is not a redis:// or rediss:// URL")

-- A Redis of our own on a free port, without persistence.
local port
for _ = 1, 20 do
  port = math.random(20000, 60000)
  os.execute(("redis-server --port %d --bind 127.0.0.1 --save '' --appendonly no "
    .. "--daemonize yes --pidfile /tmp/luna-redis-%d.pid --logfile /dev/null"):format(port, port))
  t.sleep(0.3)
  local ping = io.popen(("redis-cli -p %d PING 2>/dev/null"):format(port)):read("*a")
  if ping:find("PONG") then break end
  port = nil
end
t.check(port, "redis-server did not start (run tests/setup.sh)")
local function stop_redis()
  os.execute(("kill -9 $(cat /tmp/luna-redis-%d.pid) 2>/dev/null; rm -f /tmp/luna-redis-%d.pid")
    :format(port, port))
end

local counts, errors = {}, {}
local nodes = {}

local function room(ws)
  ws:subscribe("room")
  while true do
    local msg = ws:receive()
    if not msg then return end
    local verb, text = msg:match("^(%a+):(.*)$")
    if verb == "say" then
      counts[text] = ws:publish("room", text)
    elseif verb == "all" then
      counts[text] = ws.app:broadcast(text)
    elseif verb == "local" then
      counts[text] = ws.app:publish("room", text)
    end
  end
end

local ok, err = pcall(function()
  for _, name in ipairs({ "a", "b" }) do
    nodes[name] = luna.new_web_app({ name = name, host = "127.0.0.1", port = 0,
      protocols = { default = room },
      cluster = { redis = ("redis://127.0.0.1:%d/0"):format(port), prefix = "test:" },
      error_handler = function(msg) errors[#errors + 1] = msg end })
  end
  local p = t.py(([[
import subprocess
a = connect(URL)
b = connect("ws://127.0.0.1:%%d" %% int(sys.argv[2]))
def numsub():
    out = subprocess.run(["redis-cli", "-p", "%d", "PUBSUB", "NUMSUB", "5:test:t:room"],
                         capture_output=True, text=True).stdout.split()
    return int(out[1]) if len(out) > 1 else 0
deadline = time.time() + 10
while numsub() < 2 and time.time() < deadline: time.sleep(0.05)
b.send("say:from b")
print("a", a.recv(timeout=5))
a.send("all:to everyone")
print("a", a.recv(timeout=5)); print("b", b.recv(timeout=5))
try: print("b again", b.recv(timeout=0.3))
except TimeoutError: print("b nothing")
print("ready", flush=True)
sys.stdin.close()
time.sleep(1.5)
a.send("local:while redis is down")
print("a", a.recv(timeout=5))
a.close(); b.close()
]]):format(port), nodes.a.port, nodes.b.port)
  t.pump_until(function() return p.output():find("ready") or p.done() end, 20, "the cross-node part")
  stop_redis()
  local out = p.finish(20)
  t.check(out:find("a from b\na to everyone\nb to everyone\nb nothing\nready\na while redis is down",
    1, true), out)
  t.eq(counts["from b"], 0, "ws:publish count on B (only the sender subscribed there)")
  t.eq(counts["to everyone"], 1, "app:broadcast counts local connections")
  t.eq(counts["while redis is down"], 1, "local publish without Redis")
  t.pump_until(function() return #errors > 0 end, 10, "the Redis error")
  t.check(errors[1]:find("I/O error: cluster", 1, true), errors[1])
  t.check(errors[1]:find(("127.0.0.1:%d"):format(port), 1, true), errors[1])
end)
stop_redis()
t.check(ok, err)
t.done()
