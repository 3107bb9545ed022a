-- A server's hooks: on_upgrade(req) decides a handshake, http(req) answers a plain HTTP
-- request. A hook that fails (raises, or returns what the answer cannot be, in Lua or in the
-- library) answers 500 and its error goes the way of a handler's.
local ffi = require("ffi")
local C = require("luna.lib").load()
local errors = require("luna.errors")
local check = require("luna.check")
local state = require("luna.server_state")
local read_request = require("luna.request").read

local ffi_string = ffi.string
local type, tostring, tonumber, xpcall = type, tostring, tonumber, xpcall
local traceback = debug.traceback
local format = string.format
local describe, last_error, log = errors.describe, errors.last_error, errors.log
local header_lines, c_strings, is_integer = check.header_lines, check.c_strings, check.is_integer
local loop = state.loop

local OK, CLOSED = C.LUNA_RESULT_OK, C.LUNA_RESULT_CLOSED

local M = {}


-- The headers a hook returned (name -> value or list of values, or nil) for the C call:
-- list, count, lines (keep them alive); or nil, nil, what is wrong.
local function response_headers(headers)
  if headers == nil then
    return nil, 0
  elseif type(headers) ~= "table" then
    return nil, nil, "headers must be a table, got " .. describe(headers)
  end
  local lines, problem = header_lines(headers, true)
  if not lines then
    return nil, nil, problem
  end
  local list, count = c_strings(lines)
  return list, count, lines
end


-- What the library refused in an answer (result code `rc` of the call), or nil: also when
-- the request no longer waits (its client left, or handshake_timeout answered 503), as
-- nothing is left to answer then.
local function refused(app, id, rc)
  if rc == OK then
    return nil
  elseif rc == CLOSED then
    log(app, format("request %d was not answered: %s", id, last_error()))
    return nil
  end
  return last_error()
end


-- A status as the C ABI takes it (a uint32_t; the library checks the range).
local function is_status(status)
  return is_integer(status, 0, 0xFFFFFFFF)
end


-------------------------------------------------------------------------------
-- on_upgrade


-- Refuses a handshake because the hook failed: 500, and the error handled like a handler's.
local function upgrade_failed(app, id, msg)
  local body = "internal error\n"
  C.luna_upgrade_reject(app._handle, id, 500, nil, 0, body, #body)
  loop:handler_error(app, "luna: on_upgrade: " .. msg)
end


-- true[, { protocol, headers, data }]: accepts the handshake; `data` becomes ws.data.
local function accept_upgrade(app, id, req, opts)
  opts = type(opts) == "table" and opts or {}
  local protocol = opts.protocol
  if protocol ~= nil and type(protocol) ~= "string" then
    return upgrade_failed(app, id, "protocol must be a string, got " .. describe(protocol))
  end
  local list, count, anchor = response_headers(opts.headers)
  if not count then
    return upgrade_failed(app, id, anchor)
  end
  local rc = C.luna_upgrade_accept(app._handle, id, protocol, protocol and #protocol or 0, list, count)
  local problem = refused(app, id, rc)
  if problem then
    return upgrade_failed(app, id, problem)
  elseif rc == OK then
    local data = opts.data
    if data == nil then data = req.data end
    app._upgrade_data[id] = data
  end
  return anchor
end


-- false[, status[, body[, headers]]]: refuses the handshake (default 403).
local function refuse_upgrade(app, id, req, status, body, headers)
  status = status == nil and 403 or status
  body = body == nil and "" or tostring(body)
  local list, count, anchor = response_headers(headers)
  if not is_status(status) then
    return upgrade_failed(app, id, "a refusal is false, status, body, headers; got status "
      .. describe(status))
  elseif not count then
    return upgrade_failed(app, id, anchor)
  end
  local problem = refused(app, id, C.luna_upgrade_reject(app._handle, id, status, list, count,
    body, #body))
  if problem then
    return upgrade_failed(app, id, problem)
  end
  log(app, format("refused a handshake from %s: %d", req.peer, status))
  return anchor
end


-- UPGRADE: the app's on_upgrade(req) decides the handshake.
function M.on_upgrade(app, ev)
  local id = tonumber(ev.conn)
  if app.removed then
    return
  end
  local req = { id = id, peer = ffi_string(ev.peer, ev.peer_len), port = ev.peer_port }
  read_request(req, app, id)
  -- A client coming back to resume its session (luna's clients name it in the query).
  req.resume = req.query ~= nil and req.query:find("luna_session=", 1, true) ~= nil
  local ok, verdict, a, b, c = xpcall(app.on_upgrade, traceback, req)
  if not ok then
    return upgrade_failed(app, id, tostring(verdict))
  elseif verdict == true then
    return accept_upgrade(app, id, req, a)
  elseif verdict == false then
    return refuse_upgrade(app, id, req, a, b, c)
  end
  upgrade_failed(app, id, "must return true or false, returned " .. describe(verdict))
end


-------------------------------------------------------------------------------
-- http


-- The answer to an HTTP request from what http(req) returned: status[, body[, headers]],
-- or nil for 404. Returns status, body, list, count, lines; or nil and what is wrong.
local function http_answer(ok, status, body, headers)
  if not ok then
    return nil, tostring(status)
  elseif status == nil then
    status, body = 404, "not found"
  elseif not is_status(status) then
    return nil, "must return an integer status, got " .. describe(status)
  end
  body = body == nil and "" or tostring(body)
  local list, count, lines = response_headers(headers)
  if not count then
    return nil, lines
  end
  return status, body, list, count, lines
end


-- HTTP: answered with what the app's http(req) returned. A hook that raises or returns
-- something else answers 500 and reports.
function M.on_http(app, ev)
  local id = tonumber(ev.conn)
  if app.removed then
    return
  end
  local req = { id = id, peer = ffi_string(ev.peer, ev.peer_len), port = ev.peer_port,
    body = ffi_string(ev.data, ev.len) }
  read_request(req, app, id)
  local status, body, list, count, lines = http_answer(xpcall(app.http, traceback, req))
  local problem = not status and body
  if status then
    problem = refused(app, id, C.luna_http_respond(app._handle, id, status, list, count, body, #body))
  end
  if problem then
    local text = "internal error\n"
    C.luna_http_respond(app._handle, id, 500, nil, 0, text, #text)
    loop:handler_error(app, "luna: http: " .. problem)
  end
  return lines
end


return M
