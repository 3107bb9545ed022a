-- A standalone server (luna.run()) stopped with Ctrl-C (SIGINT) or SIGTERM: its client sees
-- the close code 1001 "going away", the process exits within a fraction of a second, with
-- status 0 and nothing on stderr (no traceback), and luna.run() returns the signal's name.
local t = require("helper")
local ffi = require("ffi")
if ffi.os == "Windows" then
  print("skipped: Unix signals")
  return t.done()
end
ffi.cdef([[
typedef struct { long sec; long nsec; } luna_test_timespec;
int clock_gettime(int clock, luna_test_timespec *ts);
]])
local ts = ffi.new("luna_test_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.sec) + tonumber(ts.nsec) * 1e-9
end
-- Generous for a busy machine: the old behaviour took 2.3 s (SIGINT) or never closed (SIGTERM).
local BOUND = 1.0

local function scenario(signal)
  local server = t.luajit([[
local ffi = require("ffi")
ffi.cdef("int getpid(void);")
local luna = require("luna")
local app = luna.new_web_app({ name = "sig", host = "127.0.0.1", port = 0, protocols = {
  default = function(ws)
    print("open")
    io.stdout:flush()
    ws:receive()
  end } })
print("PORT " .. app.port .. " PID " .. ffi.C.getpid())
io.stdout:flush()
print("run returned " .. tostring(luna.run()))
]])
  local port, pid = server.wait_for("PORT (%d+) PID (%d+)")
  local client = t.py([[
with connect(URL) as c:
    print("code", closed_code(c))
]], tonumber(port))
  server.wait_for("(open)")
  local sent = now()
  os.execute(("kill -%s %d"):format(signal, pid))
  t.pump_until(server.done, 10, "the server to exit after " .. signal)
  local took = now() - sent
  local rc, out, err = server.finish()
  local seen = client.finish()
  t.check(seen:find("code (1001, ", 1, true), signal .. ": the client saw 1001: " .. seen)
  t.eq(rc, 0, signal .. ": exit status (stderr: " .. err .. ")")
  t.eq(err, "", signal .. ": stderr")
  t.check(out:find("run returned SIG" .. signal, 1, true), signal .. ": luna.run's value: " .. out)
  t.check(took < BOUND, ("%s: exited %.2f s after the signal"):format(signal, took))
  print(("%s: exited %.3f s after the signal"):format(signal, took))
end

scenario("INT")
scenario("TERM")
t.done()
