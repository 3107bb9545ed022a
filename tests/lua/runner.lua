-- Minimal test runner: runs each scenario file in its own luajit process under a watchdog,
-- prints one line per scenario, then "N passed, M failed"; exits non-zero on any failure.
-- usage (from the repository root): luajit tests/lua/runner.lua FILE...
local TIMEOUT = tonumber(os.getenv("LUNA_TEST_TIMEOUT") or "30")
local files = { ... }
if #files == 0 then
  io.stderr:write("runner: no test files given\n")
  os.exit(2)
end

local function exit_ok(status)
  -- LuaJIT returns either a wait status (5.1) or true/false (5.2 compatibility).
  return status == 0 or status == true
end

-- On Windows (under Wine, tests/windows/run.sh) there is no `timeout`: cmd.exe runs each
-- scenario with LUNA_TEST_LUAJIT (luajit.exe), and the caller bounds the whole run.
local WINDOWS = package.config:sub(1, 1) == "\\"
local passed, failed = 0, 0
for i, file in ipairs(files) do
  local log = os.tmpname()
  local cmd = ("timeout -k 5 %d luajit %q > %q 2>&1"):format(TIMEOUT, file, log)
  if WINDOWS then
    log = (os.getenv("LUNA_TEST_SPOOL") or ".") .. "/runner-" .. i .. ".log"
    cmd = ('""%s" "%s" > "%s" 2>&1"'):format(os.getenv("LUNA_TEST_LUAJIT") or "luajit", file, log)
  end
  local ok = exit_ok(os.execute(cmd))
  local f = io.open(log, "rb")
  local out = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(log)
  if ok then
    passed = passed + 1
    print("ok    " .. file)
  else
    failed = failed + 1
    print("FAIL  " .. file)
    io.write((out:gsub("[^\n]+", "      | %0")), "\n")
    if out == "" then print("      | (no output: killed by the watchdog after " .. TIMEOUT .. " s?)") end
  end
end
print(("%d passed, %d failed"):format(passed, failed))
os.exit(failed == 0 and 0 or 1)
