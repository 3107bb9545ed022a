-- Turns include/luna.h into ffi-lua/luna/cdef.lua: evaluates the header's preprocessor
-- conditionals as a C99 compiler would (no __cplusplus, __STDC_VERSION__ = 199901L), drops
-- comments and directives, and keeps the enums, structs, typedefs and prototypes.
-- usage: luajit tools/gen-cdef.lua include/luna.h > ffi-lua/luna/cdef.lua

local macros = { __STDC_VERSION__ = 199901 }


local function fail(lineno, msg)
  io.stderr:write(("gen-cdef: line %d: %s\n"):format(lineno, msg))
  os.exit(1)
end


-- A tiny evaluator for the conditions cbindgen writes: defined(X), X, numbers, >=, <=, >, <,
-- ==, !=, !, &&, ||, parentheses.
local function evaluate(expr, lineno)
  local toks, pos = {}, 1
  expr = expr:gsub("(%d+)[uUlL]+", "%1")
  while pos <= #expr do
    local s, e = expr:find("^%s+", pos)
    if s then pos = e + 1 end
    if pos > #expr then break end
    local tok = expr:match("^[%a_][%w_]*", pos) or expr:match("^%d+", pos)
      or expr:match("^[<>=!]=", pos) or expr:match("^&&", pos) or expr:match("^||", pos)
      or expr:match("^[()!<>]", pos)
    if not tok then fail(lineno, "cannot read condition: " .. expr) end
    toks[#toks + 1] = tok
    pos = pos + #tok
  end
  local i = 1
  local function peek() return toks[i] end
  local function take() i = i + 1; return toks[i - 1] end
  local parse_or
  local function atom()
    local tok = take()
    if tok == "(" then
      local v = parse_or()
      if take() ~= ")" then fail(lineno, "missing ) in " .. expr) end
      return v
    elseif tok == "!" then
      return atom() == 0 and 1 or 0
    elseif tok == "defined" then
      local paren = peek() == "("
      if paren then take() end
      local name = take()
      if paren and take() ~= ")" then fail(lineno, "bad defined() in " .. expr) end
      return macros[name] ~= nil and 1 or 0
    elseif tok and tok:match("^%d+$") then
      return tonumber(tok)
    elseif tok and tok:match("^[%a_]") then
      return macros[tok] or 0
    end
    fail(lineno, "unexpected '" .. tostring(tok) .. "' in " .. expr)
  end
  local compare = {
    [">="] = function(a, b) return a >= b end, ["<="] = function(a, b) return a <= b end,
    [">"] = function(a, b) return a > b end, ["<"] = function(a, b) return a < b end,
    ["=="] = function(a, b) return a == b end, ["!="] = function(a, b) return a ~= b end,
  }
  local function relation()
    local a = atom()
    while compare[peek() or ""] do
      local op = take()
      a = compare[op](a, atom()) and 1 or 0
    end
    return a
  end
  local function parse_and()
    local a = relation()
    while peek() == "&&" do take(); local b = relation(); a = (a ~= 0 and b ~= 0) and 1 or 0 end
    return a
  end
  function parse_or()
    local a = parse_and()
    while peek() == "||" do take(); local b = parse_and(); a = (a ~= 0 or b ~= 0) and 1 or 0 end
    return a
  end
  local v = parse_or()
  if i <= #toks then fail(lineno, "trailing tokens in " .. expr) end
  return v ~= 0
end


local function strip_block_comments(text)
  -- Each line of a block comment becomes "//", so it is dropped like a line comment.
  return (text:gsub("/%*.-%*/", function(c) return (c:gsub("[^\n]+", "//")) end))
end


-- Returns the lines a C99 compiler would see, without directives and comments.
local function preprocess(text)
  local out, stack = {}, {}
  local function active()
    for _, frame in ipairs(stack) do if not frame.on then return false end end
    return true
  end
  local lineno = 0
  for line in (text .. "\n"):gmatch("(.-)\n") do
    lineno = lineno + 1
    local commented = line:find("//", 1, true) ~= nil and not line:find("%S.*//")
    line = line:gsub("//.*$", "")
    local directive, rest = line:match("^%s*#%s*(%a+)%s*(.-)%s*$")
    if directive == "if" then
      local on = evaluate(rest, lineno)
      stack[#stack + 1] = { on = on, taken = on }
    elseif directive == "ifdef" or directive == "ifndef" then
      local on = (macros[rest] ~= nil) == (directive == "ifdef")
      stack[#stack + 1] = { on = on, taken = on }
    elseif directive == "elif" then
      local frame = stack[#stack] or fail(lineno, "#elif without #if")
      frame.on = not frame.taken and evaluate(rest, lineno)
      frame.taken = frame.taken or frame.on
    elseif directive == "else" then
      local frame = stack[#stack] or fail(lineno, "#else without #if")
      frame.on = not frame.taken
      frame.taken = true
    elseif directive == "endif" then
      if #stack == 0 then fail(lineno, "#endif without #if") end
      stack[#stack] = nil
    elseif directive == "define" then
      if active() then
        local name, value = rest:match("^([%w_]+)%s*(.-)$")
        macros[name] = tonumber(value) or 1
      end
    elseif directive == "include" or directive == "pragma" then
      -- stddef.h and stdint.h types are built into LuaJIT's FFI.
    elseif directive then
      fail(lineno, "unsupported directive #" .. directive)
    elseif active() and not commented then
      out[#out + 1] = (line:gsub("%s+$", ""))
    end
  end
  if #stack > 0 then fail(lineno, "unterminated #if") end
  return out
end


local function tidy(lines)
  local text = table.concat(lines, "\n")
  text = text:gsub("\n%s*\n[%s\n]*", "\n\n"):gsub("^%s+", ""):gsub("%s+$", "")
  return text
end


local function main(path)
  if not path then
    io.stderr:write("usage: luajit tools/gen-cdef.lua include/luna.h > ffi-lua/luna/cdef.lua\n")
    os.exit(2)
  end
  local f = assert(io.open(path, "rb"))
  local decls = tidy(preprocess(strip_block_comments(f:read("*a"))))
  f:close()
  if decls:find("]]", 1, true) then
    io.stderr:write("gen-cdef: the declarations contain ']]'\n")
    os.exit(1)
  end
  io.write("-- Generated from include/luna.h by tools/gen-cdef.lua; do not edit by hand.\n",
    "-- Regenerate: luajit tools/gen-cdef.lua include/luna.h > ffi-lua/luna/cdef.lua\n",
    "local ffi = require(\"ffi\")\n\n",
    "-- Declared once per Lua state, even if this file is loaded under two module names.\n",
    "if pcall(ffi.typeof, \"struct LunaEvent\") then\n  return true\nend\n\n",
    "ffi.cdef[[\n", decls, "\n]]\n\nreturn true\n")
end


main(...)
