-- The reference in docs/reference/ against the code, both ways:
--   Lua: every config key luna.new_web_app and lunac.connect_to_web_app accept (their KNOWN
--        tables, read from the loaded modules), every module function and field, every method
--        of app, ws and ws.raw_socket, and every field a live app, ws and client app carry is
--        documented; every key, function, method and field the pages define exists.
--   C:   every function, struct field and enum value of include/luna.h is documented in
--        c-api.md; every one c-api.md defines is declared.
-- A page "defines" a name in a heading (### `luna.update(dt)`) or in the first column of a
-- table row (| `ws.id` |, | `max_frame_size` |, | `LUNA_RESULT_OK` |).
-- Run from the repository root with LUA_PATH covering ffi-lua/ (tests/lua/reference_in_sync.sh).
local luna = require("luna")
local lunac = require("lunac")

local failures = {}
local function fail(fmt, ...)
  failures[#failures + 1] = fmt:format(...)
end

local function read(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. path)
  local s = f:read("*a")
  f:close()
  return s
end

local function sorted(set)
  local list = {}
  for k in pairs(set) do list[#list + 1] = k end
  table.sort(list)
  return list
end

-- Whether Lua `source` assigns a field `name` (`x.name =` or `{ name = ...`): a field that
-- is nil on the live objects the test made (ws.data without on_upgrade data) still exists.
local function assigned(source, name)
  return source:find("%." .. name .. "%s*=[^=]") or source:find("[{,]%s*" .. name .. "%s*=[^=]")
end

-- Both directions between what the code has and what a page defines. With `source`, a
-- documented field the live objects lack passes when the source assigns it.
local function compare(what, code, doc, page, source)
  for _, name in ipairs(sorted(code)) do
    if not doc[name] then fail("%s: %s exists in the code but is not documented in %s", what, name, page) end
  end
  for _, name in ipairs(sorted(doc)) do
    if not code[name] and not (source and assigned(source, name)) then
      fail("%s: %s is documented in %s but does not exist in the code", what, name, page)
    end
  end
end

-- The section of `text` under the heading `title` (up to the next heading of that level).
local function section(text, level, title, page)
  local marks = ("#"):rep(level)
  local start = text:find("\n" .. marks .. " " .. title .. "\n", 1, true)
  if not start then
    fail("%s has no '%s %s' section", page, marks, title)
    return ""
  end
  local body = text:sub(start + 1)
  local stop = body:find("\n" .. marks .. " ", 2, true)
  return stop and body:sub(1, stop) or body
end

-- Names a page defines for objects `objects` (e.g. { luna = true, ws = true }):
-- result[object][name] = true.
local function definitions(text, objects)
  local found = {}
  for o in pairs(objects) do found[o] = {} end
  for line in text:gmatch("[^\n]+") do
    local obj, name = line:match("^###+ `([%w_]+)[.:]([%w_]+)")
    if not obj then obj, name = line:match("^| `([%w_]+)[.:]([%w_]+)`") end
    if obj and found[obj] then found[obj][name] = true end
  end
  return found
end

-- First-column names of the table rows of `text`: | `name` | ...
local function row_names(text)
  local names = {}
  for name in text:gmatch("\n| `([%w_.]+)` |") do names[name] = true end
  return names
end

-- A local table named `name` reachable through the upvalues of `fn` (modules keep their
-- KNOWN tables and metatables as locals).
local function upvalue(fn, name, seen)
  seen = seen or {}
  if seen[fn] then return nil end
  seen[fn] = true
  for i = 1, 255 do
    local n, v = debug.getupvalue(fn, i)
    if not n then break end
    if n == name and type(v) == "table" then return v end
    if type(v) == "function" then
      local found = upvalue(v, name, seen)
      if found then return found end
    end
  end
end

local function required_upvalue(fn, name, who)
  local t = upvalue(fn, name)
  if not t then
    fail("cannot find the table %s behind %s: the test must learn where it went", name, who)
    return {}
  end
  return t
end

local function public(t, only_functions)
  local set = {}
  for k, v in pairs(t) do
    if type(k) == "string" and not k:find("^_") and (not only_functions or type(v) == "function") then
      set[k] = true
    end
  end
  return set
end

local function union(...)
  local set = {}
  for _, s in ipairs({ ... }) do for k in pairs(s) do set[k] = true end end
  return set
end

-- Config keys: top-level names in the pages' "Configuration keys" tables against KNOWN;
-- a dotted name (ssl.cert) needs its parent in KNOWN and the field named in the module.
local function check_keys(what, known, page_text, page, module_source)
  local rows = row_names(section(page_text, 2, "Configuration keys", page))
  local top = {}
  for name in pairs(rows) do
    local parent, field = name:match("^([%w_]+)%.([%w_]+)$")
    if parent then
      if not known[parent] then
        fail("%s: %s is documented in %s but its parent key does not exist", what, name, page)
      elseif not module_source:find(field, 1, true) then
        fail("%s: %s is documented in %s but the module never names '%s'", what, name, page, field)
      end
    else
      top[name] = true
    end
  end
  compare(what, known, top, page)
end

-- The modules each side loaded: the server's are `luna` and every luna.* file; the client's
-- are `lunac`, every lunac.* file, and the luna.* files both share.
local SHARED = { ["luna.common"] = true, ["luna.errors"] = true, ["luna.check"] = true,
  ["luna.send"] = true, ["luna.loop"] = true }
local server_modules, client_modules = {}, {}
for name in pairs(package.loaded) do
  if name == "luna" or name:find("^luna%.") then server_modules[#server_modules + 1] = name end
  if name == "lunac" or name:find("^lunac%.") or SHARED[name] then
    client_modules[#client_modules + 1] = name
  end
end
table.sort(server_modules)
table.sort(client_modules)

-- The text of modules `names`, one after the other.
local function sources(names)
  local text = {}
  for _, name in ipairs(names) do
    local path = package.searchpath(name, package.path)
    if path then text[#text + 1] = read(path) else fail("cannot find the source of module %s", name) end
  end
  return table.concat(text, "\n")
end

-------------------------------------------------------------------------------
-- A live server connection, a client app and a failed client, to read their fields.

local server_ws, client_app, failed_app
local app = luna.new_web_app({
  name = "reference", host = "127.0.0.1", port = 0, no_errors = true,
  protocols = { default = function(ws)
    server_ws = ws
    while ws:receive() do end
  end },
  on_upgrade = function(req)
    if req.path == "/refuse" then return false, 403, "no" end
    return true
  end,
})
client_app = lunac.connect_to_web_app({ url = ("ws://127.0.0.1:%d/"):format(app.port), name = "ok" })
failed_app = lunac.connect_to_web_app({ url = ("ws://127.0.0.1:%d/refuse"):format(app.port), name = "refused",
  no_errors = true, error_handler = function() end })
local client_fields = {}
local function pump(cond)
  for _ = 1, 500 do
    luna.update(); lunac.update()
    for k in pairs(public(client_app)) do client_fields[k] = true end
    for k in pairs(public(failed_app)) do client_fields[k] = true end
    if cond() then return true end
    luna.wait(0.01)
  end
end
local open = pump(function() return server_ws ~= nil and client_app.state == "open" and failed_app.state == "closed" end)
if not open then fail("the live connections for reading fields did not come up") end
local ws_fields = server_ws and public(server_ws) or {}
-- Fields read from the library on first use are not in the table until then.
for k in pairs(require("luna.ws").lazy_fields) do
  if not k:find("^_") then ws_fields[k] = true end
end
ws_fields.on_close = true -- set by the user, read by luna
local raw_fields = server_ws and public(server_ws.raw_socket) or {}
local app_fields = public(app)
client_app:close()
pump(function() return client_app.state == "closed" end)

-------------------------------------------------------------------------------
-- The Lua server page.

local server_page = "docs/reference/lua-server.md"
local server_text = read(server_page)
local server_source = sources(server_modules)
check_keys("luna.new_web_app key", required_upvalue(luna.new_web_app, "KNOWN", "luna.new_web_app"),
  server_text, server_page, server_source)
local sdef = definitions(server_text, { luna = true, ws = true, app = true, raw_socket = true })
local App, WS = getmetatable(app), server_ws and getmetatable(server_ws) or {}
local Raw = server_ws and getmetatable(server_ws.raw_socket) or {}
compare("luna function or field", public(luna), sdef.luna, server_page)
compare("server app method or field", union(public(App, true), app_fields),
  sdef.app, server_page, server_source)
compare("ws method or field", union(public(WS, true), ws_fields), sdef.ws, server_page, server_source)
compare("ws.raw_socket method or field", union(public(Raw, true), raw_fields), sdef.raw_socket,
  server_page, server_source)

-------------------------------------------------------------------------------
-- The Lua client page.

local client_page = "docs/reference/lua-client.md"
local client_text = read(client_page)
local client_source = sources(client_modules)
check_keys("lunac.connect_to_web_app key",
  required_upvalue(lunac.connect_to_web_app, "KNOWN", "lunac.connect_to_web_app"),
  client_text, client_page, client_source)
local cdef = definitions(client_text, { lunac = true, app = true })
local CApp = getmetatable(client_app)
compare("lunac function or field", public(lunac), cdef.lunac, client_page)
compare("client app method or field", union(public(CApp, true), client_fields), cdef.app, client_page,
  client_source)

luna.close()
lunac.close()

-------------------------------------------------------------------------------
-- The C page against the header.

local header = read("include/luna.h")
local c_page = "docs/reference/c-api.md"
local c_text = read(c_page)

local functions, values, fields = {}, {}, {}
for name in header:gmatch("[%s%*](luna_[%w_]+)%(") do functions[name] = true end
for name in header:gmatch("\n%s+(LUNA_[%w_]+) = ") do values[name] = true end
for struct, body in header:gmatch("typedef struct (Luna%w+) {(.-)} ") do
  fields[struct] = {}
  for line in body:gmatch("[^\n]+") do
    local name = line:match("^%s*%a[^/]-([%w_]+);%s*$")
    if name then fields[struct][name] = true end
  end
end
if not next(functions) or not next(values) or not next(fields) then
  fail("could not read functions, enum values or structs from include/luna.h")
end

local doc_functions, doc_values = {}, {}
for name in c_text:gmatch("\n### `(luna_[%w_]+)`") do doc_functions[name] = true end
for name in c_text:gmatch("\n| `(LUNA_[%w_]+)` |") do doc_values[name] = true end
compare("C function", functions, doc_functions, c_page)
compare("C enum value", values, doc_values, c_page)

local enums = {}
for name in header:gmatch("\nenum (Luna%w+)") do enums[name] = true end
local doc_structs = {}
for struct in c_text:gmatch("\n### `(Luna%w+)`\n") do
  if enums[struct] then goto next_struct end
  local rows = row_names(section(c_text, 3, "`" .. struct .. "`", c_page))
  if next(rows) then doc_structs[struct] = rows end
  ::next_struct::
end
for _, struct in ipairs(sorted(union(fields, doc_structs))) do
  compare("field of " .. struct, fields[struct] or {}, doc_structs[struct] or {}, c_page)
end

-- Names in backquotes anywhere in the C page must exist too (no stale mention).
for name in c_text:gmatch("`(luna_[%w_]+)") do
  if not functions[name] then fail("c-api.md mentions %s, which luna.h does not declare", name) end
end
for name in c_text:gmatch("(LUNA_[A-Z_0-9]+)") do
  if not values[name] and not name:find("^LUNA_WAIT_SPIN_US") and not name:find("_$") then
    fail("c-api.md mentions %s, which luna.h does not declare", name)
  end
end

if #failures > 0 then
  io.stderr:write("the reference (docs/reference/) and the code disagree:\n")
  for _, f in ipairs(failures) do io.stderr:write("  ", f, "\n") end
  io.stderr:write(("%d problem(s)\n"):format(#failures))
  os.exit(1)
end
local count = 0
for _ in pairs(functions) do count = count + 1 end
print(("reference in sync: %d C functions, every Lua key, function and field documented"):format(count))
