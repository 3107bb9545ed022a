-- What session resume costs, measured in one LuaJIT process (server and client):
--   1. the time from a cut to the first message replayed on the new connection, with lunac
--      reconnecting after 1-2 ms (so the figure is luna's, not the backoff's); median and
--      max over ROUNDS cuts;
--   2. the server's memory per paused session: N Python websockets clients ask for sessions,
--      are each sent MESSAGES messages of SIZE bytes, then drop; VmRSS growth / N.
-- usage: luajit bench/resume_costs.lua   (after make; needs build/venv from tests/setup.sh)
-- Environment: BENCH_RESUME_ROUNDS (50), BENCH_RESUME_SESSIONS (2000), BENCH_RESUME_MESSAGES
-- (10), BENCH_RESUME_SIZE (100).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local root = here .. "/.."
package.path = root .. "/ffi-lua/?.lua;" .. root .. "/ffi-lua/?/init.lua;" .. package.path
local ffi = require("ffi")
local luna = require("luna")
local lunac = require("lunac")
ffi.cdef("int shutdown(int fd, int how);")
local C = require("luna.lib").load()

local ROUNDS = tonumber(os.getenv("BENCH_RESUME_ROUNDS") or "") or 50
local SESSIONS = tonumber(os.getenv("BENCH_RESUME_SESSIONS") or "") or 2000
local MESSAGES = tonumber(os.getenv("BENCH_RESUME_MESSAGES") or "") or 10
local SIZE = tonumber(os.getenv("BENCH_RESUME_SIZE") or "") or 100

local function now_ms() return tonumber(C.luna_clock_ms()) end
local function rss_kib()
  for line in io.lines("/proc/self/status") do
    local kib = line:match("^VmRSS:%s+(%d+)")
    if kib then return tonumber(kib) end
  end
end
local function pump_until(done, seconds)
  local deadline = now_ms() + seconds * 1000
  while not done() do
    if now_ms() > deadline then error("timed out") end
    luna.wait(0.001); lunac.update()
  end
end

-- 1. Cut to first replayed message.
local current
local server = luna.new_web_app({ name = "resume-bench", host = "127.0.0.1", port = 0,
  resume = { window = 60 },
  protocols = { default = function(ws)
    current = ws
    while ws:receive() do end
  end } })
local got = {}
local client = lunac.connect_to_web_app({ url = ("ws://127.0.0.1:%d/"):format(server.port),
  reconnect = { min_delay = 0.001, max_delay = 0.002 }, error_handler = function() end,
  on_message = function(_, message) got[#got + 1] = { message, now_ms() } end })
pump_until(function() return client.state == "open" and current end, 10)
local times = {}
for round = 1, ROUNDS do
  local mark = "m" .. round
  local cut = now_ms()
  ffi.C.shutdown(current.raw_socket:getfd(), 2)
  current:send(mark)
  pump_until(function() local last = got[#got] return last and last[1] == mark end, 10)
  times[#times + 1] = got[#got][2] - cut
end
table.sort(times)
print(("cut to first replayed message: median %.1f ms, max %.1f ms over %d cuts (client backoff 1-2 ms)")
  :format(times[math.ceil(#times / 2)], times[#times], #times))
lunac.close()
luna.close()

-- 2. Memory per paused session.
local app = luna.new_web_app({ name = "paused", host = "127.0.0.1", port = 0,
  resume = { window = 600, memory = 1024 * 1024 * 1024 },
  protocols = { default = function(ws)
    for i = 1, MESSAGES do ws:send(("%d"):format(i) .. ("x"):rep(SIZE - #tostring(i))) end
    while ws:receive() do end
  end } })
for _ = 1, 50 do luna.wait(0.01) end
collectgarbage(); collectgarbage()
local before = rss_kib()
local script = os.tmpname()
local f = assert(io.open(script, "w"))
f:write(([[
import asyncio, sys, websockets
async def one(i, port):
    c = await websockets.connect("ws://127.0.0.1:%%d/?luna_resume=n%%d" %% (port, i), max_size=None)
    for _ in range(%d + 1):
        await c.recv()
    c.transport.abort()
async def main(port, n):
    for start in range(0, n, 200):
        await asyncio.gather(*(one(i, port) for i in range(start, min(n, start + 200))))
    print("done", flush=True)
asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
]]):format(MESSAGES))
f:close()
local out = os.tmpname()
os.execute(("%s/build/venv/bin/python %s %d %d > %s 2>&1 &"):format(root, script, app.port, SESSIONS, out))
local function output()
  local o = io.open(out) local text = o and o:read("*a") or "" if o then o:close() end return text
end
pump_until(function() return output():find("done") or output():find("Error") end, 120)
assert(output():find("done"), output())
os.remove(script); os.remove(out)
pump_until(function() return #app:clients() == SESSIONS end, 30)
for _ = 1, 100 do luna.wait(0.01) end
collectgarbage(); collectgarbage()
local after = rss_kib()
print(("memory per paused session: %.2f KiB (%d sessions, each sent %d messages of %d bytes; RSS %d -> %d KiB)")
  :format((after - before) / SESSIONS, SESSIONS, MESSAGES, SIZE, before, after))
luna.close()
