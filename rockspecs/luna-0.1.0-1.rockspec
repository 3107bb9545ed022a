package = "luna"
version = "0.1.0-1"
source = {
   url = "git+https://example.invalid/luna.git",
}
description = {
   summary = "WebSocket servers and clients for LuaJIT and LÖVE (Rust core, FFI binding)",
   detailed = [[
      luna runs WebSocket servers (require "luna") and clients (require "lunac") on a
      background I/O thread and hands their events to Lua coroutines and callbacks.
      It needs LuaJIT (it uses the FFI) and builds its core with cargo.
   ]],
   license = "MIT",
}
dependencies = {
   "lua == 5.1",
}
build = {
   type = "make",
   build_target = "lib",
   install_target = "install",
   -- A target directory of its own: LuaRocks passes CC to make, and a plain `make` in the
   -- same checkout would otherwise rebuild OpenSSL's bindings and luna after each rock build.
   build_variables = {
      TARGET_DIR = "target/rock",
   },
   install_variables = {
      TARGET_DIR = "target/rock",
      PREFIX = "$(PREFIX)",
      LIBDIR = "$(LIBDIR)",
      LUADIR = "$(LUADIR)",
      SONAME_LINKS = "0",
   },
}
