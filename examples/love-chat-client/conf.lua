-- Only tells Lua where luna lives in this repository (ffi-lua/ and target/release/). In your
-- own game, copy ffi-lua/luna and ffi-lua/lunac into the game folder and put libluna.so
-- (luna.dll, libluna.dylib) next to them or next to the .love file; then you need none of this.
function love.conf(t)
  t.identity = "luna-love-chat-client"
  t.window.title = "luna: love-chat-client"
  t.window.width, t.window.height = 640, 400
  t.modules.audio, t.modules.sound, t.modules.joystick, t.modules.physics = false, false, false, false
end

-- print() lines appear at once even when stdout is a pipe.
io.stdout:setvbuf("line")

local game = love.filesystem.getSource()
local repo = game:gsub("[/\\]+$", ""):gsub("[/\\]?[^/\\]+[/\\][^/\\]+$", "")
if repo == "" then repo = "." end
package.path = repo .. "/ffi-lua/?.lua;" .. repo .. "/ffi-lua/?/init.lua;" .. package.path
require("luna.lib").add_path(repo .. "/target/release")
