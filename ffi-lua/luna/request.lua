-- A server's view of HTTP requests: the handshake or plain request of a connection as a Lua
-- table, and query strings (luna.parse_query).
local ffi = require("ffi")
local C = require("luna.lib").load()
local errors = require("luna.errors")

local ffi_new, ffi_string = ffi.new, ffi.string
local type, tonumber, error = type, tonumber, error
local char = string.char
local describe, result = errors.describe, errors.result

local request_out = ffi_new("LunaRequest[1]")
local header_out = ffi_new("LunaHeader[1]")

local M = {}


-- Joins a repeated request header as HTTP says (RFC 9110 §5.3; cookies with "; ").
local function add_header(headers, name, value)
  local seen = headers[name]
  if seen == nil then
    headers[name] = value
  else
    headers[name] = seen .. (name == "cookie" and "; " or ", ") .. value
  end
end


-- The request of connection `id` of `app` into `into`: method, path, query (raw, "" when
-- none), headers.
function M.read(into, app, id)
  local who = "luna: request of connection " .. id
  if not result(C.luna_conn_request(app._handle, id, request_out), app, who) then
    return
  end
  local req = request_out[0]
  local target = ffi_string(req.target, req.target_len)
  into.method = ffi_string(req.method, req.method_len)
  into.path, into.query = target:match("^([^?]*)%??(.*)$")
  local headers = {}
  for i = 0, tonumber(req.header_count) - 1 do
    if result(C.luna_conn_header(app._handle, id, i, header_out), app, who) then
      local h = header_out[0]
      add_header(headers, ffi_string(h.name, h.name_len), ffi_string(h.value, h.value_len))
    end
  end
  into.headers = headers
end


local function unescape(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(hex) return char(tonumber(hex, 16)) end))
end


-- Decodes a query string ("a=1&b=x%20y"): a table name -> value (the first value of a
-- repeated name), and a list of every { name, value } pair in order.
function M.parse_query(query)
  if type(query) ~= "string" then
    error("luna.parse_query: expected a string, got " .. describe(query), 2)
  end
  local values, pairs_list = {}, {}
  for part in query:gmatch("[^&;]+") do
    local name, value = part:match("^([^=]*)=?(.*)$")
    name, value = unescape(name), unescape(value)
    pairs_list[#pairs_list + 1] = { name, value }
    if values[name] == nil then values[name] = value end
  end
  return values, pairs_list
end


return M
