-- When the library cannot be loaded, the error lists every place tried. The modules are
-- copied outside the checkout first, so no build sits next to them.
local t = require("helper")
local dir = os.tmpname()
os.remove(dir)
assert(os.execute(("mkdir -p %q && cp -r ffi-lua %q/"):format(dir, dir)) == 0)
local cmd = ([[cd %q && LUNA_LIB=/nonexistent/libluna.so luajit -e 'package.path="ffi-lua/?.lua;ffi-lua/?/init.lua;"..package.path
require("luna.lib").add_path("/also/not/here")
print(select(2, pcall(require("luna.lib").load)))' 2>&1]]):format(dir)
local f = assert(io.popen(cmd))
local out = f:read("*a")
f:close()
os.execute(("rm -rf %q"):format(dir))
t.check(out:find("cannot load the luna library", 1, true), out)
t.check(out:find("/nonexistent/libluna.so:", 1, true), "env var tried: " .. out)
t.check(out:find("/also/not/here/libluna.so:", 1, true), "added path tried: " .. out)
t.check(out:find("ffi-lua/libluna.so:", 1, true), "module directory tried: " .. out)
t.check(out:find("./target/release/libluna.so:", 1, true), "a checkout's build tried: " .. out)
t.check(out:find("\n  luna:", 1, true), "system search tried: " .. out)
-- And LUNA_LIB (as set by the runner) is what this process loaded.
t.eq(require("luna.lib").path, os.getenv("LUNA_LIB"), "loaded from LUNA_LIB")
t.done()
