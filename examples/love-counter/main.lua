-- Initializing Luna for web applications
_G.love = love
local luna
local inc_clients = {}

function love.load()
    luna = require("luna.init")

    local app
    app = luna.new_web_app({
        name = "web socket test",
        host = "*",
        port = 12345,

        debug = true,
        no_errors = true,

        protocols = {
            default = function(ws)
                local ip, port = ws:getpeername()
                print("New client ip: "..ip .. " port: "..port)
                
                -- Access to raw socket (useful for advanced operations)
                local raw_socket = ws.raw_socket
                print("Raw socket type: " .. type(raw_socket))
                
                ws.on_close = function ()
                    print("ws "..tostring(ws) .. " on_close.")
                end
                inc_clients[ws] = 0
                while true do
                    local message, opcode = ws:receive()
                    if not message then
                        ws:close()
                        inc_clients[ws] = nil
                        return
                    end
                    if opcode == app.opcodes.TEXT then
                        if message:match('reset') then
                            inc_clients[ws] = 0
                        end
                        ws:send(tostring(inc_clients[ws]))
                    end
                end
            end,
        }
    })
end

local last_werserv_update = 0
function love.update(dt)
    last_werserv_update = last_werserv_update + dt
    if last_werserv_update >= 0.1 then
        last_werserv_update = 0
        for ws, number in pairs(inc_clients) do
            ws:send(tostring(number))
            inc_clients[ws] = number + 1
        end
    end

    luna.update(dt)
end
