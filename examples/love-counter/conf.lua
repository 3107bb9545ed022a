-- The example (main.lua) is the original Luna documentation's, unchanged; this file only tells Lua where luna lives.
-- In your own game, copy ffi-lua/luna into the game folder and libluna.so (luna.dll,
-- libluna.dylib) next to it or next to the .love file, and you need none of this.
function love.conf(t)
  t.identity = "luna-love-counter"
  t.window.title = "luna: love-counter (ws://127.0.0.1:12345)"
  t.window.width, t.window.height = 480, 120
  t.modules.audio, t.modules.sound, t.modules.joystick, t.modules.physics = false, false, false, false
end

-- print() lines appear at once even when stdout is a pipe.
io.stdout:setvbuf("line")

-- This example lives in the luna repository: use ffi-lua/ and target/release/ from there.
local game = love.filesystem.getSource()
local repo = game:gsub("[/\\]+$", ""):gsub("[/\\]?[^/\\]+[/\\][^/\\]+$", "")
if repo == "" then repo = "." end
package.path = repo .. "/ffi-lua/?.lua;" .. repo .. "/ffi-lua/?/init.lua;" .. package.path
require("luna.lib").add_path(repo .. "/target/release")
