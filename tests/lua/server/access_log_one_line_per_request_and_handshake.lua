-- access_log = function(line): one line in the combined format per plain HTTP request (a
-- static file, the http hook, a refusal) and per handshake (101, or the refusal's status),
-- with the client's address, the request, the status, the body bytes, the referer, the user
-- agent and the seconds taken; a quote a client wrote is escaped. access_log = true writes the
-- lines to stdout (a second process shows it).
local t = require("helper")
local luna = t.luna
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir) == 0)
local f = assert(io.open(dir .. "/hello.txt", "wb"))
f:write("hello")
f:close()

local lines = {}
local app = luna.new_web_app({ name = "logged", host = "127.0.0.1", port = 0, static = dir,
  origins = { "http://good.example" },
  access_log = function(line) lines[#lines + 1] = line end,
  http = function(req) return 201, "made" end,
  protocols = { default = function(ws) ws:send("hi"); while ws:receive() do end end } })

local p = t.py([[
import socket
def raw(request):
    s = socket.create_connection(("127.0.0.1", PORT))
    s.sendall(request)
    out = b""
    while True:
        chunk = s.recv(4096)
        if not chunk: break
        out += chunk
    return out
print(raw(b'GET /hello.txt HTTP/1.1\r\nHost: h\r\nReferer: http://r.example/\r\nUser-Agent: ag"ent\r\nConnection: close\r\n\r\n')[:12])
print(raw(b"POST /api HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab")[:12])
print(raw(b"BROKEN\r\n\r\n")[:12])
with connect(URL) as c:
    print(c.recv(timeout=5))
try:
    connect(URL, origin="http://evil.example", open_timeout=5)
except InvalidStatus as e:
    print("refused", e.response.status_code)
]], app.port)
local out = p.finish(20)
t.check(out:find("refused 403", 1, true), out)
t.pump_until(function() return #lines >= 5 end, 10, "five access log lines")
local all = table.concat(lines, "\n")
local stamp = "127%.0%.0%.1 %- %- %[%d%d/%a%a%a/%d%d%d%d:%d%d:%d%d:%d%d %+0000%] "
t.check(all:find(stamp .. '"GET /hello.txt HTTP/1.1" 200 5 "http://r.example/" "ag\\"ent" %d+%.%d%d%d'), all)
t.check(all:find(stamp .. '"POST /api HTTP/1.1" 201 4 "" "" %d+%.%d%d%d'), all)
t.check(all:find(stamp .. '"%-" 400 %d+ "" "" '), all)
t.check(all:find(stamp .. '"GET / HTTP/1.1" 101 0 "" "Python/'), all)
t.check(all:find(stamp .. '"GET / HTTP/1.1" 403 %d+ ""'), all)
for _, line in ipairs(lines) do t.check(not line:find("\n"), "one line: " .. line) end

-- true: the lines go to stdout.
local child = t.luajit(([[
local luna = require("luna")
local app = luna.new_web_app({ name = "stdout", host = "127.0.0.1", port = 0, access_log = true,
  http = function() return 200, "ok" end, protocols = { default = function() end } })
io.stderr:write("port ", app.port, "\n")
io.stderr:flush()
local deadline = os.time() + 10
while os.time() < deadline do luna.wait(0.05) end
]]))
t.pump_until(function() return child.stderr():find("port %d+") end, 10, "the child's port")
local port = child.stderr():match("port (%d+)")
local q = t.py([[
import urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%d/ping" % PORT, timeout=5).read())
]], tonumber(port))
q.finish(10)
child.wait_for('"GET /ping HTTP/1%.1" 200 2')
t.raises(function()
  luna.new_web_app({ name = "bad", host = "127.0.0.1", port = 0, access_log = "yes",
    protocols = { default = function() end } })
end, "'access_log' must be true, false or a function(line)")
os.execute("rm -rf " .. dir)
t.done()
