-- The event loop of one module (`luna` or `lunac`): its live apps, the pump that hands their
-- events to the module, update / wait / run over them, and the error policy of handlers and
-- callbacks. An app here is a table with `_handle`, `removed`, `state`, `_dispatching` and
-- the fields luna.errors reads.
local ffi = require("ffi")
local C = require("luna.lib").load()
local errors = require("luna.errors")

local ffi_new = ffi.new
local type, tonumber, error, pcall = type, tonumber, error, pcall
local ipairs, setmetatable, unpack = ipairs, setmetatable, unpack
local floor, min, format, remove = math.floor, math.min, string.format, table.remove
local describe, result = errors.describe, errors.result
local report, call_error_handler = errors.report, errors.call_error_handler

local OK, TIMEOUT = C.LUNA_RESULT_OK, C.LUNA_RESULT_TIMEOUT
local EV_OPEN, EV_MESSAGE = C.LUNA_EVENT_KIND_OPEN, C.LUNA_EVENT_KIND_MESSAGE
local EV_CLOSE, EV_ERROR = C.LUNA_EVENT_KIND_CLOSE, C.LUNA_EVENT_KIND_ERROR
local EV_UPGRADE, EV_HTTP = C.LUNA_EVENT_KIND_UPGRADE, C.LUNA_EVENT_KIND_HTTP
local EV_LOG, EV_RESUME = C.LUNA_EVENT_KIND_LOG, C.LUNA_EVENT_KIND_RESUME

local EVENTS = 256
-- Batches polled per app per update; later events wait for the next call.
local MAX_ROUNDS = 8
-- How long an update that re-raises a handler error waits for the closes it started.
local SETTLE_ROUNDS, SETTLE_MS = 50, 20

local count_out = ffi_new("size_t[1]")
-- One event array per nesting level: a callback may remove (and so drain) another app while
-- the batch it belongs to is still being dispatched.
local event_arrays = {}
local depth = 0

local M = {}


-- A wait timeout in seconds (nil = forever) as the C ABI's milliseconds (-1 = forever).
-- Called by Loop:wait, itself called by luna.wait / lunac.wait: errors blame their caller.
local function timeout_ms(timeout, who)
  if timeout == nil then
    return -1
  elseif type(timeout) ~= "number" or timeout ~= timeout or timeout < 0 then
    error(who .. ": timeout must be a number of seconds >= 0 or nil, got " .. describe(timeout), 4)
  end
  return floor(min(timeout * 1000, 2147483647))
end


-------------------------------------------------------------------------------
-- The loop

local Loop = {}
Loop.__index = Loop


-- `name` prefixes its errors ("luna"); `inside` names what update must not be called from.
-- The module sets `loop.on` once its event handlers exist: open, message, close, error (and
-- upgrade, http and log for a server): function(app, ev); after_poll(app), called after
-- each dispatch of an app; and wake(app) for a module that defers apps (Loop:defer).
function M.new(name, inside)
  return setmetatable({
    name = name, inside = inside, on = nil,
    order = {},     -- live apps in creation order
    deferred = {},  -- { app, due } out of the loop until the clock says `due` (seconds)
    snapshot = {},  -- a copy of order for update to walk; replaced, never changed
    handles = nil, count = 0, updating = false,
    pending_error = nil, -- first handler error of this update, re-raised at its end
    closing = {},   -- {app, conn} closed by a failing handler: waited for before the re-raise
  }, Loop)
end


function Loop:rebuild()
  self.snapshot = { unpack(self.order) }
  self.count = #self.order
  self.handles = ffi_new("LunaApp*[?]", self.count + 1)
  for i, app in ipairs(self.order) do
    self.handles[i - 1] = app._handle
  end
end


function Loop:add(app)
  self.order[#self.order + 1] = app
  self:rebuild()
end


-- Seconds on a clock that never goes back.
local function now()
  return tonumber(C.luna_clock_ms()) / 1000
end


-- Takes `app` (which has no handle now) out of the loop for `seconds`; then on.wake(app)
-- runs within an update and may add it back. wait sleeps no longer than that, and run keeps
-- going while an app is deferred.
function Loop:defer(app, seconds)
  self:remove(app)
  self.deferred[#self.deferred + 1] = { app = app, due = now() + seconds }
end


-- Milliseconds until the next deferred app is due (0 if one is), or nil if none waits.
function Loop:next_due_ms()
  local soonest
  for _, entry in ipairs(self.deferred) do
    if not soonest or entry.due < soonest then
      soonest = entry.due
    end
  end
  return soonest and math.max(0, math.ceil((soonest - now()) * 1000)) or nil
end


local function wake_due(loop)
  local time = now()
  for i = #loop.deferred, 1, -1 do
    local entry = loop.deferred[i]
    if entry.due <= time then
      remove(loop.deferred, i)
      loop.on.wake(entry.app)
    end
  end
end


function Loop:remove(app)
  for i, entry in ipairs(self.deferred) do
    if entry.app == app then
      remove(self.deferred, i)
      return
    end
  end
  for i, other in ipairs(self.order) do
    if other == app then
      remove(self.order, i)
      self:rebuild()
      return
    end
  end
end


-- The live apps, deferred ones included.
function Loop:list()
  local list = {}
  for i, app in ipairs(self.order) do list[i] = app end
  for _, entry in ipairs(self.deferred) do list[#list + 1] = entry.app end
  return list
end


-- Polls one batch of `app` and hands each event to the module; returns how many it held.
function Loop:poll_once(app)
  local level = depth + 1
  depth = level
  local events = event_arrays[level]
  if not events then
    events = ffi_new("LunaEvent[?]", EVENTS)
    event_arrays[level] = events
  end
  local rc = C.luna_app_poll(app._handle, events, EVENTS, count_out)
  local n = rc == OK and tonumber(count_out[0]) or 0
  local on = self.on
  for i = 0, n - 1 do
    local ev = events[i]
    local kind = ev.kind
    if kind == EV_MESSAGE then
      on.message(app, ev)
    elseif kind == EV_OPEN then
      on.open(app, ev)
    elseif kind == EV_CLOSE then
      on.close(app, ev)
    elseif kind == EV_ERROR then
      on.error(app, ev)
    elseif kind == EV_UPGRADE then
      on.upgrade(app, ev)
    elseif kind == EV_HTTP then
      on.http(app, ev)
    elseif kind == EV_RESUME and on.resume then
      on.resume(app, ev)
    elseif kind == EV_LOG and on.log then
      on.log(app, ev)
    end
  end
  depth = level - 1
  if rc ~= OK then
    result(rc, app, self.name .. ".update: poll")
  end
  return n
end


-- Dispatches what is left of a removed app's events.
function Loop:drain(app)
  for _ = 1, 10000 do
    if self:poll_once(app) == 0 then
      return
    end
  end
end


-- Dispatches what `app` has pending (up to MAX_ROUNDS batches), then writes what the
-- callbacks sent, one write per connection.
function Loop:poll_app(app)
  app._dispatching = true
  for _ = 1, MAX_ROUNDS do
    if self:poll_once(app) < EVENTS or app.removed or app.state == "closed" then
      break
    end
  end
  app._dispatching = false
  if app._handle then
    result(C.luna_app_flush(app._handle), app, self.name .. ".update: flush")
  end
  self.on.after_poll(app)
end


-- Remembers a handler error, to be raised when the current update ends; `conn`, if given,
-- is the connection the failing handler closed.
function Loop:raise_later(msg, app, conn)
  if not self.pending_error then
    self.pending_error = msg
  end
  if conn then
    self.closing[#self.closing + 1] = { app, conn }
  end
end


-- A handler or callback error: with no_errors only reported; else passed to error_handler
-- (if any) and re-raised as `raised` (default msg) when the current update ends, which the
-- host then shows: printed once. `conn`, if given, is the connection the failing handler
-- closed.
function Loop:handler_error(app, msg, raised, conn)
  if app.no_errors then
    return report(app, msg)
  end
  if app.error_handler then
    call_error_handler(app, msg)
  end
  self:raise_later(raised or msg, app, conn)
end


-- Drops a remembered error outside update (an app removed between updates).
function Loop:forget_error()
  if not self.updating then
    self.pending_error = nil
  end
end


-- Before a handler error is re-raised (which often ends the program), lets the closes the
-- failing handlers started complete, so their peers see the close code.
function Loop:settle()
  local closing = self.closing
  self.closing = {}
  for _, entry in ipairs(closing) do
    local app, conn = entry[1], entry[2]
    for _ = 1, SETTLE_ROUNDS do
      if conn.state == "closed" or not app._handle or app.removed then
        break
      end
      local rc = C.luna_app_wait(app._handle, SETTLE_MS)
      if rc ~= TIMEOUT then
        result(rc, app, self.name .. ".update: wait")
      end
      self:poll_app(app)
    end
  end
end


local function poll_all(loop)
  if #loop.deferred > 0 then
    wake_due(loop)
  end
  for _, app in ipairs(loop.snapshot) do
    if not app.removed and app._handle then
      loop:poll_app(app)
    end
  end
  if loop.pending_error then
    loop:settle()
  end
end


-- Errors point at the caller of the module function that called these (level 3).
function Loop:update()
  if self.updating then
    error(format("%s.update: called again from inside %s", self.name, self.inside), 3)
  end
  self.updating, self.pending_error = true, nil
  local ok, err = pcall(poll_all, self)
  self.updating = false
  -- Replaced only when used: a game loop calls update every frame, and a table per call
  -- made the collector's work (and the heap between its cycles) grow with the frame rate.
  if #self.closing > 0 then
    self.closing = {}
  end
  if not ok then
    error(err, 0)
  end
  local raised = self.pending_error
  self.pending_error = nil
  if raised then
    error(raised, 0)
  end
end


function Loop:wait(timeout)
  local ms = timeout_ms(timeout, self.name .. ".wait")
  local due = self:next_due_ms()
  if due and (ms < 0 or due < ms) then
    ms = due
  end
  if self.count == 0 and ms < 0 then
    return false -- nothing could ever wake us
  end
  local rc = C.luna_app_wait_any(self.handles, self.count, ms)
  if rc ~= OK and rc ~= TIMEOUT then
    result(rc, nil, self.name .. ".wait", 3)
  end
  self:update()
  return rc == OK
end


local SIGNAL_NAMES = { [2] = "SIGINT", [15] = "SIGTERM" }


local function run_until_signal(loop, catching)
  while #loop.order > 0 or #loop.deferred > 0 do
    -- Without caught signals, a slice lets the interpreter's Ctrl-C handler run now and then.
    loop:wait(not catching and 1 or nil)
    local signal = catching and C.luna_signal_take() or 0
    if signal ~= 0 then
      return signal
    end
  end
end


-- Loops until every app is gone. Where the library catches signals (Unix), SIGINT and
-- SIGTERM end it quietly: with `drain`, `drain(signal)` starts draining every app and the
-- loop goes on until they are gone (a second signal calls `stop()` at once); without it,
-- `stop()` closes every app (1001). run then returns the signal's name. Errors from update
-- pass through, with the signals given back first.
function Loop:run(stop, drain)
  local catching = C.luna_signals_catch(1) == OK
  local ok, name = pcall(function()
    local signal = run_until_signal(self, catching)
    if not signal then
      return nil
    end
    if drain then
      drain(signal)
      if run_until_signal(self, catching) then
        stop()
      end
    else
      stop()
    end
    return SIGNAL_NAMES[signal] or format("signal %d", signal)
  end)
  if catching then
    C.luna_signals_catch(0)
  end
  if not ok then
    error(name, 0)
  end
  return name
end


return M
