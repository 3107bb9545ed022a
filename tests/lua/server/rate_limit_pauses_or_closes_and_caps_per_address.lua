-- rate_limit: "pause" slows a fast sender to its rate and loses nothing (60 messages at 20/s
-- with a burst of 20 take at least 2 s, all echoed in order); "close" closes with 1008;
-- max_connections_per_ip answers a third connection from one address with 429, while another
-- address still connects; max_handshake_rate_per_ip answers handshakes past the rate with 429
-- and Retry-After, and a second later the address connects again. app:stats() counts them.
local t = require("helper")
local luna = t.luna
local function echo(ws)
  while true do
    local message = ws:receive()
    if not message then return end
    ws:send(message)
  end
end
local paced = luna.new_web_app({ name = "paced", host = "127.0.0.1", port = 0,
  rate_limit = { messages = 20, per = 1, action = "pause" }, protocols = { default = echo } })
local strict = luna.new_web_app({ name = "strict", host = "127.0.0.1", port = 0,
  rate_limit = { messages = 5, bytes = 1000000, per = 10, action = "close" }, protocols = { default = echo } })
local capped = luna.new_web_app({ name = "capped", host = "127.0.0.1", port = 0,
  max_connections_per_ip = 2, protocols = { default = echo } })
local hurried = luna.new_web_app({ name = "hurried", host = "127.0.0.1", port = 0,
  max_handshake_rate_per_ip = 3, protocols = { default = echo } })

local p = t.py([[
import socket
STRICT, CAPPED, HURRIED = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with connect(URL) as c:
    start = time.monotonic()
    for i in range(60):
        c.send("m%d" % i)
    got = [c.recv(timeout=10) for _ in range(60)]
    took = time.monotonic() - start
    print("paced in order:", got == ["m%d" % i for i in range(60)], "took %.2f" % took)
with connect("ws://127.0.0.1:%d" % STRICT) as c:
    for i in range(10):
        try:
            c.send("x")
        except ConnectionClosed:
            break
    print("strict close", closed_code(c)[0])
one = connect("ws://127.0.0.1:%d" % CAPPED)
two = connect("ws://127.0.0.1:%d" % CAPPED)
try:
    connect("ws://127.0.0.1:%d" % CAPPED, open_timeout=5)
    print("third accepted")
except InvalidStatus as e:
    print("third status", e.response.status_code)
s = socket.socket(); s.bind(("127.0.0.2", 0)); s.connect(("127.0.0.1", CAPPED))
with connect("ws://127.0.0.1:%d" % CAPPED, sock=s) as other:
    other.send("hi"); print("other address:", other.recv(timeout=5))
one.close(); two.close()
statuses = []
for _ in range(5):
    try:
        with connect("ws://127.0.0.1:%d" % HURRIED, open_timeout=5):
            statuses.append(101)
    except InvalidStatus as e:
        statuses.append(e.response.status_code)
        retry = e.response.headers.get("Retry-After")
print("hurried", statuses, "retry", retry)
time.sleep(1.1)
with connect("ws://127.0.0.1:%d" % HURRIED) as c:
    print("hurried later: open")
]], paced.port, strict.port, capped.port, hurried.port)
local out = p.finish(30)
t.check(out:find("paced in order: True", 1, true), out)
local took = tonumber(out:match("took (%d+%.%d+)"))
t.check(took and took >= 1.5, "60 messages at 20/s (burst 20) came back in " .. tostring(took) .. " s")
t.check(out:find("strict close 1008", 1, true), out)
t.check(out:find("third status 429", 1, true), out)
t.check(out:find("other address: hi", 1, true), out)
t.check(out:find("hurried [101, 101, 101, 429, 429] retry 1", 1, true), out)
t.check(out:find("hurried later: open", 1, true), out)
t.check(paced:stats().rate_limited > 0, "paced counts its pauses")
t.eq(strict:stats().rate_limited, 1, "strict counts its close")
t.eq(capped:stats().handshakes_refused.address, 1, "capped counts the refusal")
t.raises(function()
  luna.new_web_app({ name = "bad", host = "127.0.0.1", port = 0, rate_limit = { per = 1 },
    protocols = { default = echo } })
end, "'rate_limit' must be a table that limits messages, bytes or both")
t.raises(function()
  luna.new_web_app({ name = "bad", host = "127.0.0.1", port = 0,
    rate_limit = { messages = 1, action = "drop" }, protocols = { default = echo } })
end, "'rate_limit.action' must be \"pause\" or \"close\"")
t.done()
