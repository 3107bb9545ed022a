-- Finds and loads the luna shared library once per Lua state; `luna` and `lunac` share it.
-- Order: $LUNA_LIB, directories added with add_path(), next to this module (the directory
-- holding luna/ and its parent, then a checkout's target/release/), LÖVE's source
-- directories, where `make install` put it, package.cpath, then the system's search path.
local ffi = require("ffi")
require("luna.cdef")

local M = { path = nil, extra = {} }

local loaded

local NAMES = {
  Windows = { "luna.dll", "libluna.dll" },
  OSX = { "libluna.dylib" },
}
local names = NAMES[ffi.os] or { "libluna.so" }
local SEP = ffi.os == "Windows" and "\\" or "/"


local function this_dir()
  local source = debug.getinfo(1, "S").source
  if source:sub(1, 1) ~= "@" then
    return nil
  end
  return source:sub(2):match("^(.*)[/\\]") or "."
end


local function parent(dir)
  if dir == "." then
    return ".."
  end
  return dir:match("^(.*)[/\\][^/\\]+$") or "."
end


local function love_dirs()
  local fs = rawget(_G, "love") and love.filesystem
  local dirs = {}
  if fs and fs.getSourceBaseDirectory then
    dirs[#dirs + 1] = fs.getSourceBaseDirectory()
  end
  if fs and fs.getSource then
    dirs[#dirs + 1] = fs.getSource()
  end
  return dirs
end


local function candidates()
  local list = {}
  local env = os.getenv("LUNA_LIB")
  if env and env ~= "" then
    list[#list + 1] = env
  end
  local dirs = {}
  for _, dir in ipairs(M.extra) do dirs[#dirs + 1] = dir end
  local here = this_dir()
  if here then
    dirs[#dirs + 1] = parent(here)
    dirs[#dirs + 1] = parent(parent(here))
    -- Loaded from a checkout's ffi-lua/: the library `make` built next to it.
    dirs[#dirs + 1] = parent(parent(here)) .. SEP .. "target" .. SEP .. "release"
  end
  for _, dir in ipairs(love_dirs()) do dirs[#dirs + 1] = dir end
  -- `make install` records where it put the library.
  local installed, libdir = pcall(require, "luna.libdir")
  if installed and type(libdir) == "string" then dirs[#dirs + 1] = libdir end
  for _, dir in ipairs(dirs) do
    for _, name in ipairs(names) do
      list[#list + 1] = dir .. SEP .. name
    end
  end
  -- LuaRocks puts the library among the C modules: look along package.cpath too.
  for _, name in ipairs(names) do
    local found = package.searchpath(name:gsub("%.%w+$", ""), package.cpath)
    if found then list[#list + 1] = found end
  end
  list[#list + 1] = "luna"
  return list
end


-- Adds a directory to search (after $LUNA_LIB, before the defaults), e.g. from a conf.lua.
function M.add_path(dir)
  if type(dir) ~= "string" then
    error("luna.lib.add_path: directory must be a string, got " .. type(dir), 2)
  end
  M.extra[#M.extra + 1] = dir
end


-- Returns the loaded library (an ffi clib), loading it on first use.
function M.load()
  if loaded then
    return loaded
  end
  local tried = {}
  for _, path in ipairs(candidates()) do
    local ok, lib = pcall(ffi.load, path)
    if ok then
      loaded, M.path = lib, path
      return lib
    end
    tried[#tried + 1] = "  " .. path .. ": " .. tostring(lib)
  end
  error("luna: cannot load the luna library (set LUNA_LIB to its path); tried:\n"
    .. table.concat(tried, "\n"), 2)
end


return M
