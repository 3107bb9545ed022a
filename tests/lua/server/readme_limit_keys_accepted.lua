-- Every key the "Limits and defaults" table of the reference (docs/reference/lua-server.md)
-- names is true to the code: a name ending in _ms is a field of LunaServerConfig, every other
-- one a key luna.new_web_app accepts, and lunac.connect_to_web_app too, but for the
-- server-only ones the table names.
local t = require("helper")
local ffi = require("ffi")
local luna = t.luna
local f = assert(io.open("docs/reference/lua-server.md", "rb"))
local readme = f:read("*a")
f:close()
local section = readme:match("\n## Limits and defaults\n(.-)\n## ")
local table_text = section and section:match("\n(|.-)\n\n")
t.check(table_text, "docs/reference/lua-server.md has a 'Limits and defaults' table")
local lunac = require("lunac")
local BOOLEAN = { control_frames = true, close_on_backpressure = true }
local SERVER_ONLY = { max_connections = true, handshake_timeout = true, max_queued_messages = true,
  max_head_size = true, max_body_size = true, max_http_connections = true, max_body_memory = true }
-- Keys whose smallest sensible value is above 2, or that take a string.
local VALUES = { max_head_size = 4096, compression = "shared" }
local seen = 0
for row in table_text:gmatch("[^\n]+") do
  local last = row:match("|([^|]*)|%s*$")
  for name in (last or ""):gmatch("`([%w_]+)`") do
    seen = seen + 1
    if name:find("_ms$") then
      t.check(pcall(ffi.offsetof, "LunaServerConfig", name) and ffi.offsetof("LunaServerConfig", name),
        "C field " .. name .. " exists")
    else
      local config = { name = "keys", host = "127.0.0.1", port = 0, protocols = { default = function() end } }
      config[name] = BOOLEAN[name] or VALUES[name] or 2
      local ok, app = pcall(luna.new_web_app, config)
      t.check(ok, ("luna.new_web_app accepts '%s': %s"):format(name, tostring(app)))
      app:close()
      if not SERVER_ONLY[name] then
        local client = { url = "ws://127.0.0.1:1/", no_errors = true, error_handler = function() end }
        client[name] = config[name]
        local ok2, c = pcall(lunac.connect_to_web_app, client)
        t.check(ok2, ("lunac.connect_to_web_app accepts '%s': %s"):format(name, tostring(c)))
        c:disconnect()
      end
    end
  end
end
t.check(seen >= 12, "the table names its keys (" .. seen .. " found)")
t.done()
