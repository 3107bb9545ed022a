-- Shared helpers for the Lua scenarios: paths, Python peers, pumping and assertions.
-- Scenario files run from the repository root with LUA_PATH including tests/lua/?.lua.
-- LUNA_TEST_MODULES: where luna/ and lunac/ are (default ffi-lua; "." in an unpacked
-- Windows release, where luna.dll sits beside them).
local MODULES = os.getenv("LUNA_TEST_MODULES") or "ffi-lua"
local MODULE_PATH = ("%s/?.lua;%s/?/init.lua;"):format(MODULES, MODULES)
package.path = MODULE_PATH .. package.path

-- Under Wine (tests/windows/run.sh) the scenarios run in a Windows LuaJIT, but their peers
-- (Python, openssl, sleep, ...) are Linux programs started with POSIX shell commands: there
-- os.execute hands each command to the Linux-side spooler (tests/windows/spooler.sh) and
-- waits for its exit status, unless it ends in "&" (io.popen reads the output of one).
-- os.tmpname names files in the spool directory, which both sides reach by the same
-- absolute path (Wine's Z: drive is /).
if require("ffi").os == "Windows" then
  local ffi = require("ffi")
  ffi.cdef("void Sleep(uint32_t ms); uint32_t GetCurrentProcessId(void); uint64_t GetTickCount64(void);")
  local spool = os.getenv("LUNA_TEST_SPOOL")
  if not spool then
    error("LUNA_TEST_SPOOL is not set: run the scenarios through tests/windows/run.sh")
  end
  -- Wine reuses process ids at once, and a finished scenario's peers may still write their
  -- files: the start time makes the names unique.
  local prefix, count = ("w%d-%s"):format(ffi.C.GetCurrentProcessId(), (tostring(ffi.C.GetTickCount64()):gsub("ULL$", ""))), 0
  local function fresh()
    count = count + 1
    return ("%s/%s-%d"):format(spool, prefix, count)
  end
  function os.tmpname()
    local name = fresh() .. ".tmp"
    assert(io.open(name, "wb")):close()
    return name
  end
  function os.execute(cmd)
    if cmd == nil then return 1 end
    local job = fresh()
    local f = assert(io.open(job .. ".part", "wb"))
    f:write(cmd, "\n")
    f:close()
    assert(os.rename(job .. ".part", job .. ".sh"))
    if cmd:match("&%s*$") then return 0 end
    while true do
      local rc = io.open(job .. ".rc", "rb")
      if rc then
        local status = tonumber(rc:read("*a"))
        rc:close()
        os.remove(job .. ".rc")
        return status
      end
      ffi.C.Sleep(5)
    end
  end
  -- Read mode only: the command's output, once it has exited.
  function io.popen(cmd, mode)
    assert(mode == nil or mode == "r", "io.popen under the Wine bridge reads only")
    local out = os.tmpname()
    os.execute(("(%s) > %q"):format(cmd, out))
    return io.open(out, "rb")
  end
  -- Lua's os.clock is processor time; the Windows C runtime's clock() is wall time.
  ffi.cdef([[
    typedef struct { uint32_t low, high; } luna_test_filetime;
    int GetProcessTimes(void *process, luna_test_filetime *creation, luna_test_filetime *exit,
                        luna_test_filetime *kernel, luna_test_filetime *user);
    void *GetCurrentProcess(void);
  ]])
  local times = ffi.new("luna_test_filetime[4]")
  function os.clock()
    assert(ffi.C.GetProcessTimes(ffi.C.GetCurrentProcess(), times, times + 1, times + 2, times + 3) ~= 0)
    local ticks = 0
    for i = 2, 3 do ticks = ticks + times[i].high * 2 ^ 32 + times[i].low end
    return ticks / 1e7
  end
end

local t = {}
t.python = os.getenv("LUNA_TEST_PYTHON") or "build/venv/bin/python"

local luna = require("luna")
t.luna = luna

local PRELUDE = [[
import sys, json, time, warnings
warnings.simplefilter("ignore")
from websockets.sync.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
PORT = int(sys.argv[1])
URL = "ws://127.0.0.1:%d" % PORT
def closed_code(c):
    try:
        while True:
            c.recv(timeout=5)
    except ConnectionClosed as e:
        return (e.rcvd.code, e.rcvd.reason) if e.rcvd else (None, None)
]]


function t.fail(msg, level)
  error(msg, (level or 1) + 1)
end


function t.check(cond, msg)
  if not cond then
    error("check failed: " .. tostring(msg), 2)
  end
  return cond
end


function t.eq(got, want, what)
  if got ~= want then
    error(("%s: expected %s, got %s"):format(what or "value", tostring(want), tostring(got)), 2)
  end
end


-- Calls fn and returns its error message; fails if it does not raise or the message does
-- not contain `needle` (plain text).
function t.raises(fn, needle)
  local ok, err = pcall(fn)
  if ok then
    error("expected an error containing '" .. needle .. "', got none", 2)
  end
  err = tostring(err)
  if not err:find(needle, 1, true) then
    error(("expected an error containing '%s', got: %s"):format(needle, err), 2)
  end
  return err
end


local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end


-- Runs shell command `cmd` in the background; returns a process object: done(), output()
-- (stdout and stderr), rc(), lines(), finish(timeout) (waits, pumping luna; fails if it exits
-- non-zero). `what` names it in failures.
local function background(cmd, what)
  local out, rc = os.tmpname(), os.tmpname()
  os.remove(rc)
  -- The exit status appears atomically (mv), so done() never sees a half-written file.
  os.execute(("(%s > %q 2>&1; echo $? > %q.tmp; mv %q.tmp %q) &"):format(cmd, out, rc, rc, rc))
  local proc = {}
  function proc.done() return read_file(rc) ~= nil end
  function proc.output() return read_file(out) or "" end
  function proc.rc() return tonumber(read_file(rc)) end
  function proc.lines()
    local lines = {}
    for line in proc.output():gmatch("[^\n]+") do lines[#lines + 1] = line end
    return lines
  end
  function proc.finish(timeout)
    t.pump_until(proc.done, timeout or 10, what .. " to exit")
    if proc.rc() ~= 0 then
      error(what .. " failed (exit " .. tostring(proc.rc()) .. "):\n" .. proc.output(), 2)
    end
    return proc.output()
  end
  return proc
end


-- Starts a Python websockets peer in the background: `code` runs after PRELUDE with PORT set.
function t.py(code, port, ...)
  local f = io.open(t.python, "rb")
  if not f then
    error("Python peer not found at " .. t.python .. ": run tests/setup.sh", 2)
  end
  f:close()
  local script = os.tmpname()
  local sf = assert(io.open(script, "wb"))
  sf:write(PRELUDE, code, "\n")
  sf:close()
  local args = table.concat({ ... }, " ")
  return background(("%q %q %d %s"):format(t.python, script, port, args), "the Python peer")
end


-- Starts a Node `ws` peer, `node tests/lua/peers/SCRIPT ARGS...`, in the background (killed
-- after 40 s at the latest); returns a process object as t.py does. Arguments are passed to
-- the shell as they are (quote them).
function t.node(script, ...)
  local ok = os.execute("command -v node >/dev/null 2>&1")
  if not (ok == 0 or ok == true) or not read_file("build/node/node_modules/ws/package.json") then
    error("node or build/node/node_modules/ws missing: run tests/setup.sh", 2)
  end
  local cmd = ("timeout -k 2 40 env NODE_PATH=build/node/node_modules node tests/lua/peers/%s %s")
    :format(script, table.concat({ ... }, " "))
  return background(cmd, "the Node peer")
end


-- Starts `code` in its own luajit process (modules from ffi-lua/), its stdout a pipe (as
-- under systemd or `| tee`) read into a file, its stderr a file; killed after 20 s at the
-- latest. Returns a process object.
function t.luajit(code)
  local script, out, err, rc = os.tmpname(), os.tmpname(), os.tmpname(), os.tmpname()
  os.remove(rc)
  local sf = assert(io.open(script, "wb"))
  sf:write(("package.path = %q .. package.path\n"):format(MODULE_PATH), code, "\n")
  sf:close()
  os.execute(("((timeout -k 2 20 luajit %q 2> %q; echo $? > %q.tmp) | cat > %q; mv %q.tmp %q) &")
    :format(script, err, rc, out, rc, rc))
  local proc = {}
  function proc.done() return read_file(rc) ~= nil end
  function proc.stdout() return read_file(out) or "" end
  function proc.stderr() return read_file(err) or "" end
  function proc.rc() return tonumber(read_file(rc)) end
  -- Waits (pumping luna) until stdout matches `pattern`; returns its captures.
  function proc.wait_for(pattern, timeout)
    t.pump_until(function() return proc.stdout():find(pattern) or proc.done() end, timeout or 10,
      "luajit output matching " .. pattern)
    local found = { proc.stdout():match(pattern) }
    if #found == 0 then
      error(("luajit exited without printing %s; stdout:\n%s\nstderr:\n%s")
        :format(pattern, proc.stdout(), proc.stderr()), 2)
    end
    return unpack(found)
  end
  function proc.finish(timeout)
    t.pump_until(proc.done, timeout or 10, "the luajit process to exit")
    return proc.rc(), proc.stdout(), proc.stderr()
  end
  return proc
end


-- Pumps luna until cond() is true; fails after `timeout` seconds.
function t.pump_until(cond, timeout, what)
  local deadline = os.time() + (timeout or 10)
  while not cond() do
    if os.time() > deadline then
      error("timed out waiting for " .. (what or "a condition"), 2)
    end
    luna.wait(0.02)
  end
end


function t.sleep(seconds)
  os.execute("sleep " .. seconds)
end


function t.done()
  luna.close()
  print("passed")
  os.exit(0)
end


return t
