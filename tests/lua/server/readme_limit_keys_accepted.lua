-- Every key the README's "Limits and defaults" table names is true to the code: a name
-- ending in _ms is a field of LunaServerConfig, every other one a key luna.new_web_app accepts.
local t = require("helper")
local ffi = require("ffi")
local luna = t.luna
local f = assert(io.open("README.md", "rb"))
local readme = f:read("*a")
f:close()
local table_text = readme:match("\n## Limits and defaults\n(.-)\n\n")
t.check(table_text, "README has a 'Limits and defaults' table")
local BOOLEAN = { control_frames = true, close_on_backpressure = true }
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
      config[name] = BOOLEAN[name] or 2
      local ok, app = pcall(luna.new_web_app, config)
      t.check(ok, ("luna.new_web_app accepts '%s': %s"):format(name, tostring(app)))
      app:close()
    end
  end
end
t.check(seen >= 12, "the table names its keys (" .. seen .. " found)")
t.done()
