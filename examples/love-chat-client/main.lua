-- A LÖVE window that joins the chat of examples/chat/server.lua with lunac.
--   luajit examples/chat/server.lua 8765 &
--   love examples/love-chat-client 8765        (or LUNA_CHAT_PORT=8765; default 8765)
-- Type a line and press Enter to send it; "/nick NAME" renames you. Received messages are
-- drawn in the window and printed to stdout as "< MESSAGE". When the connection fails or
-- ends, it tries again every 2 seconds.
local utf8 = require("utf8")
local lunac

local MAX_LINES = 200
local RETRY_SECONDS = 2

local url
local client            -- the lunac app, nil while waiting to retry
local retry_in = 0
local status = "connecting"
local lines = {}        -- received messages, oldest first
local input = ""        -- the line being typed

local function add_line(text)
  lines[#lines + 1] = text
  if #lines > MAX_LINES then table.remove(lines, 1) end
end

local function connect()
  status = "connecting to " .. url
  client = lunac.connect_to_web_app({
    url = url,
    protocol = "chat",
    no_errors = true,
    error_handler = function(err)
      io.stderr:write("love-chat-client: ", tostring(err), "\n")
    end,
    on_connect = function(self)
      status = "connected to " .. url .. " (protocol " .. tostring(self.protocol) .. ")"
      print("connected " .. url)
      -- For tests: type this line as if from the keyboard once connected.
      local say = os.getenv("LUNA_CHAT_SAY")
      if say and say ~= "" then
        love.textinput(say)
        love.keypressed("return")
      end
    end,
    on_message = function(_, message, opcode)
      if opcode ~= lunac.opcodes.TEXT then
        message = ("[binary message, %d bytes]"):format(#message)
      end
      print("< " .. message)
      add_line(message)
    end,
    on_close = function(self, code, reason)
      status = ("disconnected (%s %s); retrying"):format(tostring(code), tostring(reason or ""))
      print(("closed %s %s"):format(tostring(code), tostring(reason or "")))
      if client == self then
        client, retry_in = nil, RETRY_SECONDS
      end
    end,
  })
end

function love.load(args)
  lunac = require("lunac")
  local port = tonumber(args and args[1] or nil) or tonumber(os.getenv("LUNA_CHAT_PORT") or "") or 8765
  url = ("ws://127.0.0.1:%d"):format(port)
  love.window.setTitle("luna: love-chat-client (" .. url .. ", subprotocol chat)")
  love.keyboard.setKeyRepeat(true)
  connect()
end

function love.update(dt)
  lunac.update(dt)
  if not client then
    retry_in = retry_in - dt
    if retry_in <= 0 then connect() end
  end
end

function love.textinput(text)
  input = input .. text
end

function love.keypressed(key)
  if key == "return" or key == "kpenter" then
    if input ~= "" and client and client.state == "open" then
      local ok, err = client:send(input)
      if ok then
        input = ""
      else
        status = "send failed: " .. tostring(err)
      end
    end
  elseif key == "backspace" then
    local last = utf8.offset(input, -1)
    if last then input = input:sub(1, last - 1) end
  elseif key == "escape" then
    love.event.quit()
  end
end

function love.draw()
  local font = love.graphics.getFont()
  local lh = font:getHeight() + 2
  local w, h = love.graphics.getDimensions()
  love.graphics.setColor(0.6, 0.8, 1)
  love.graphics.print(status, 8, 6)
  -- As many of the newest messages as fit between the status line and the input line.
  love.graphics.setColor(1, 1, 1)
  local rows = math.floor((h - 3 * lh - 12) / lh)
  local first = math.max(1, #lines - rows + 1)
  for i = first, #lines do
    love.graphics.print(lines[i], 8, 8 + lh * (i - first + 1))
  end
  love.graphics.setColor(0.3, 0.3, 0.3)
  love.graphics.line(0, h - lh - 10, w, h - lh - 10)
  love.graphics.setColor(1, 1, 0.6)
  local cursor = (love.timer.getTime() % 1 < 0.5) and "_" or ""
  love.graphics.print("> " .. input .. cursor, 8, h - lh - 4)
end

function love.quit()
  if lunac then lunac.close() end
end
