-- luna echo server for make bench.
-- usage: luajit bench/servers/luna_echo.lua PORT [update|wait] [off|shared|dedicated]
--   update: luna.update() in a busy loop (a game loop that never sleeps)
--   wait:   luna.wait(1) in a loop (a standalone server that sleeps until events arrive)
--   off|shared|dedicated: the server's `compression` setting (default off; the compression
--   threshold stays at its default, 1024 bytes)
-- Prints "ready PORT" once listening. Clients asking for the subprotocol "broadcast" form
-- a group: each message one of them sends goes to all of them (ws:broadcast); every other
-- connection is echoed. Clients asking for "publish" subscribe to one topic, and each
-- message is published to it (app:publish); stderr then gets one line per publish with the
-- host's time: queueing the copies (app:publish) and writing them (luna_app_flush, which
-- in `update` mode hands the writes to the I/O thread instead). BENCH_PUBLISH_LOG=0: neither
-- the line nor the flush after each publish (the copies go out with the batch, as for
-- ws:broadcast).
-- Exits by itself after BENCH_SERVER_MAX_SECONDS (default 900). BENCH_RATE_LIMIT,
-- BENCH_REUSE_PORT and BENCH_RESUME: see below.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local root = here .. "/../.."
package.path = root .. "/ffi-lua/?.lua;" .. root .. "/ffi-lua/?/init.lua;" .. package.path
require("luna.lib").add_path(root .. "/target/release")
local luna = require("luna")
local ffi = require("ffi")
local C = require("luna.lib").load()
ffi.cdef([[
struct bench_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock, struct bench_timespec *ts);
]])

local port = tonumber(arg[1] or "0") or 0
local mode = arg[2] or "update"
local compression = ({ off = false, shared = "shared", dedicated = "dedicated" })[arg[3] or "off"]
if compression == nil then
  error("compression must be off, shared or dedicated, got " .. tostring(arg[3]))
end
local deadline = os.time() + (tonumber(os.getenv("BENCH_SERVER_MAX_SECONDS") or "") or 900)


local function echo(ws)
  while true do
    local message, opcode = ws:receive()
    if not message then
      return
    end
    ws:send(message, opcode)
  end
end


local function broadcast(ws)
  while true do
    local message, opcode = ws:receive()
    if not message then
      return
    end
    ws:broadcast(message, opcode)
  end
end


local ts = ffi.new("struct bench_timespec")
local CLOCK_MONOTONIC = 1


local function micros()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end


local app
local publish_log = os.getenv("BENCH_PUBLISH_LOG") ~= "0"


local function publish(ws)
  ws:subscribe("bench")
  while true do
    local message, opcode = ws:receive()
    if not message then
      return
    end
    if not publish_log then
      app:publish("bench", message, opcode)
    else
      local t0 = micros()
      local count = app:publish("bench", message, opcode)
      local t1 = micros()
      C.luna_app_flush(app._handle)
      local t2 = micros()
      io.stderr:write(string.format("publish to %d: %.0f us queueing + %.0f us writing on the host\n",
        count, t1 - t0, t2 - t1))
    end
  end
end


-- BENCH_RATE_LIMIT=1: a per-connection rate limit so high it never triggers, to measure what
-- checking it costs. BENCH_REUSE_PORT=1: listen with reuse_port, so several servers share
-- the port (start the first on a free port, the others on the port it printed).
-- BENCH_COMPRESSION_LEVEL=N: the server's `compression_level` (else the default).
-- BENCH_RESUME=1: session resume (the bench's clients then ask for sessions), to measure what
-- keeping every sent message for a resend costs.
app = luna.new_web_app({
  name = "bench",
  host = "127.0.0.1",
  port = port,
  compression = compression,
  compression_level = tonumber(os.getenv("BENCH_COMPRESSION_LEVEL") or ""),
  rate_limit = os.getenv("BENCH_RATE_LIMIT") == "1"
      and { messages = 1000000000, bytes = 1000000000000, per = 1 } or nil,
  reuse_port = os.getenv("BENCH_REUSE_PORT") == "1",
  resume = os.getenv("BENCH_RESUME") == "1" and { window = 30 } or nil,
  protocols = { default = echo, broadcast = broadcast, publish = publish },
})
io.stdout:setvbuf("line")
print("ready " .. app.port)

if mode == "wait" then
  while os.time() < deadline do
    luna.wait(1)
  end
elseif mode == "update" then
  local update = luna.update
  while os.time() < deadline do
    for _ = 1, 10000 do
      update()
    end
  end
else
  error("mode must be update or wait, got " .. tostring(mode))
end
