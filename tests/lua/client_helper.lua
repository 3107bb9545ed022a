-- Helpers for the lunac scenarios: peer servers (Python websockets, Node ws, our C echo
-- server) started in the background, and pumping lunac until a condition holds.
local t = require("helper")
local lunac = require("lunac")
t.lunac = lunac

local PEERS = {
  py = function() return t.python .. " tests/lua/peers/ws_server.py" end,
  node = function() return "env NODE_PATH=build/node/node_modules node tests/lua/peers/ws_server.js" end,
  -- Our own C echo server; it answers "shutdown" by exiting.
  c = function() return "build/echo_server 127.0.0.1 0" end,
}
local NEEDS = { py = t.python, node = "build/node/node_modules/ws/package.json", c = "build/echo_server" }


local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end


-- Pumps lunac (and luna, for in-process servers) until cond() is true; fails after
-- `timeout` seconds.
function t.pump_until(cond, timeout, what)
  local deadline = os.time() + (timeout or 10)
  while not cond() do
    if os.time() > deadline then
      error("timed out waiting for " .. (what or "a condition"), 2)
    end
    lunac.wait(0.01)
    t.luna.update()
  end
end


-- Starts peer `kind` ("py", "node" or "c") with `args` in the background (killed after
-- 40 s at the latest) and waits for its port. Returns a process object with `port`.
function t.server(kind, ...)
  local need = NEEDS[kind]
  if not need or not read_file(need) then
    error(("peer %s not found (%s): run tests/setup.sh and make"):format(kind, tostring(need)), 2)
  end
  local out, rc = os.tmpname(), os.tmpname()
  os.remove(rc)
  os.execute(("(timeout -k 2 40 %s %s > %q 2>&1; echo $? > %q.tmp; mv %q.tmp %q) &")
    :format(PEERS[kind](), table.concat({ ... }, " "), out, rc, rc, rc, rc))
  local proc = { kind = kind }
  function proc.done() return read_file(rc) ~= nil end
  function proc.output() return read_file(out) or "" end
  function proc.rc() return tonumber(read_file(rc)) end
  -- Waits (pumping lunac) until the peer exits; fails if it exits non-zero.
  function proc.finish(timeout)
    local ok, err = pcall(t.pump_until, proc.done, timeout or 10, "the " .. kind .. " peer to exit")
    if not ok then
      error(err .. "; its output:\n" .. proc.output(), 2)
    end
    if proc.rc() ~= 0 then
      error(("%s peer failed (exit %s):\n%s"):format(kind, tostring(proc.rc()), proc.output()), 2)
    end
    return proc.output()
  end
  t.pump_until(function()
    local text = proc.output()
    proc.port = tonumber(text:match("PORT (%d+)") or text:match("listening on (%d+)"))
    return proc.port or proc.done()
  end, 10, kind .. " peer to listen")
  if not proc.port then
    error(kind .. " peer did not start:\n" .. proc.output(), 2)
  end
  proc.url = ("ws://127.0.0.1:%d"):format(proc.port)
  return proc
end


-- A client config that records every callback in `log` (a list of {event, ...}).
function t.recorder(config)
  local rec = { events = {}, errors = {}, closes = 0, messages = {} }
  config.error_handler = config.error_handler or function(err) rec.errors[#rec.errors + 1] = err end
  config.on_connect = config.on_connect or function(self) rec.events[#rec.events + 1] = "connect" end
  config.on_message = config.on_message or function(self, msg, op)
    rec.messages[#rec.messages + 1] = { msg, op }
  end
  config.on_close = config.on_close or function(self, code, reason)
    rec.closes = rec.closes + 1
    rec.code, rec.reason = code, reason
    rec.events[#rec.events + 1] = "close"
  end
  rec.app = lunac.connect_to_web_app(config)
  return rec
end


-- Text, binary, empty and 16 MiB messages echoed by peer `kind`, then a closing handshake
-- started by the client. `opts` (optional): `peer` (the peer's mode and arguments, default
-- { "echo" }), `config` (merged into the client's), `compressed` (what app.compressed must
-- be once open, default false). Returns the peer's output.
function t.echo_scenario(kind, opts)
  opts = opts or {}
  local peer = t.server(kind, unpack(opts.peer or { "echo" }))
  local big = string.rep("\171\0", 8 * 1024 * 1024)
  local config = { url = peer.url .. "/echo?x=1", name = "echo " .. kind }
  for k, v in pairs(opts.config or {}) do config[k] = v end
  local rec = t.recorder(config)
  local app = rec.app
  t.eq(app.state, "connecting", "state before open")
  t.eq(app.name, config.name, "app.name")
  t.eq(app.url, peer.url .. "/echo?x=1", "app.url")
  t.eq(app.opcodes.BINARY, 2, "app.opcodes.BINARY")
  t.pump_until(function() return app.state == "open" end, 10, "open")
  t.eq(rec.events[1], "connect", "on_connect first")
  t.eq(app.compressed, opts.compressed or false, "app.compressed")
  local sent = { { "héllo 🌙", 1 }, { "\0\255bin", 2 }, { "", 1 }, { "", 2 }, { big, 2 } }
  for i, m in ipairs(sent) do
    local ok, err = app:send(m[1], m[2] ~= 1 and m[2] or nil)
    -- 16 MiB fills max_send_queue alone: while the small ones are still queued (a slow I/O
    -- thread, as under Wine) the answer is "backpressure", and an app waits and retries.
    local deadline = os.time() + 10
    while not ok and err == "backpressure" and os.time() < deadline do
      lunac.wait(0.01)
      ok, err = app:send(m[1], m[2] ~= 1 and m[2] or nil)
    end
    t.eq(ok, true, "send " .. i .. " (" .. tostring(err) .. ")")
  end
  t.pump_until(function() return #rec.messages == #sent end, 20, "the echoes")
  for i, m in ipairs(sent) do
    t.eq(#rec.messages[i][1], #m[1], "length of echo " .. i)
    t.check(rec.messages[i][1] == m[1], "payload of echo " .. i)
    t.eq(rec.messages[i][2], m[2], "opcode of echo " .. i)
  end
  t.eq(app:close(4001, "done here"), true, "close")
  t.eq(app.state, "closing", "state after close")
  t.eq(select(2, app:send("late")), "closed", "send while closing")
  t.pump_until(function() return rec.closes > 0 end, 10, "on_close")
  t.eq(rec.code, 4001, "close code echoed by the server")
  t.eq(app.state, "closed", "state after on_close")
  t.eq(app.was_clean, true, "closing handshake completed")
  t.eq(#rec.errors, 0, "errors: " .. table.concat(rec.errors, "; "))
  local out = peer.finish()
  t.check(out:find("close 4001 done here", 1, true), "server saw the close frame:\n" .. out)
  t.eq(rec.closes, 1, "on_close calls")
  return out
end


-- A connection that fails: error_handler gets one message containing `needle`, then
-- on_close(self, 1006, reason) exactly once; update never raises. Returns the recorder.
function t.failure_scenario(config, needle, timeout)
  config.name = config.name or "failing"
  local rec = t.recorder(config)
  t.eq(rec.app.state, "connecting", "state at first")
  t.pump_until(function() return rec.closes > 0 end, timeout or 10, "on_close")
  -- Later updates must not call on_close again.
  for _ = 1, 5 do t.lunac.wait(0.02) end
  t.eq(rec.closes, 1, "on_close calls")
  t.eq(rec.code, 1006, "close code")
  t.check(type(rec.reason) == "string" and rec.reason ~= "", "a close reason")
  t.eq(#rec.errors, 1, "error_handler calls (" .. table.concat(rec.errors, "; ") .. ")")
  t.check(rec.errors[1]:find(needle, 1, true), ("error mentions %q: %s"):format(needle, rec.errors[1]))
  t.check(rec.errors[1]:find("connection failed", 1, true), "error says the connection failed: " .. rec.errors[1])
  t.eq(rec.events[1], "close", "no on_connect before on_close")
  t.eq(rec.app.state, "closed", "state")
  t.eq(select(2, rec.app:send("x")), "closed", "send after failure")
  t.eq(#t.lunac.apps(), 0, "a closed client is forgotten")
  return rec
end


function t.done()
  lunac.close()
  t.luna.close()
  print("passed")
  os.exit(0)
end



-- Starts tests/tools/cutting_proxy.py in front of 127.0.0.1:`port`: it resets `cuts`
-- connections after a random number of bytes in [min_bytes, max_bytes] each, mid-frame
-- included, and exits after 40 s. Returns { port, cuts() } (the cuts made so far).
function t.cutting_proxy(port, cuts, min_bytes, max_bytes, seed)
  local out = os.tmpname()
  os.execute(("timeout -k 2 45 python3 tests/tools/cutting_proxy.py --target 127.0.0.1:%d "
    .. "--cuts %d --min-bytes %d --max-bytes %d --seed %d --seconds 40 > %q 2>&1 &")
    :format(port, cuts, min_bytes, max_bytes, seed or 1, out))
  local proxy = {}
  function proxy.cuts()
    local n = 0
    for _ in (read_file(out) or ""):gmatch("cut %d+ going") do n = n + 1 end
    return n
  end
  t.pump_until(function()
    proxy.port = tonumber((read_file(out) or ""):match("listening (%d+)"))
    return proxy.port
  end, 10, "the cutting proxy to listen")
  return proxy
end

return t
