-- trusted_proxies behind a real nginx: a client on 127.0.0.2 connects through nginx (on
-- 127.0.0.1, trusted), writing a forged X-Forwarded-For itself; the handler, on_upgrade and the
-- http hook all see 127.0.0.2 (what nginx saw), never the forged address nor nginx's own. The
-- same forged header sent straight to luna from 127.0.0.2 (not a trusted proxy) is ignored.
local t = require("helper")
local luna = t.luna

local ok = os.execute("command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx")
t.check(ok == 0 or ok == true, "nginx is not installed (run tests/setup.sh)")
local NGINX = io.popen("command -v nginx || echo /usr/sbin/nginx"):read("*l")

local upgrade_peers = {}
local app = luna.new_web_app({ name = "proxied", host = "127.0.0.1", port = 0,
  trusted_proxies = { "127.0.0.1", "::1" },
  on_upgrade = function(req)
    upgrade_peers[#upgrade_peers + 1] = req.peer
    return true
  end,
  http = function(req) return 200, "peer " .. req.peer end,
  protocols = { default = function(ws)
    ws:send("peer " .. (ws:getpeername()))
    while ws:receive() do end
  end } })

-- A free port for nginx, from the OS.
local probe = luna.new_web_app({ name = "probe", host = "127.0.0.1", port = 0,
  protocols = { default = function() end } })
local nginx_port = probe.port
probe:close()

local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir .. "/logs")
local conf = assert(io.open(dir .. "/nginx.conf", "wb"))
conf:write(([[
daemon off;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/logs/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %s/body;
  proxy_temp_path %s/proxy;
  fastcgi_temp_path %s/fastcgi;
  uwsgi_temp_path %s/uwsgi;
  scgi_temp_path %s/scgi;
  server {
    listen 127.0.0.1:%d;
    location / {
      proxy_pass http://127.0.0.1:%d;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 1h;
    }
  }
}
]]):format(dir, dir, dir, dir, dir, dir, dir, nginx_port, app.port))
conf:close()
os.execute(("timeout -k 2 40 %s -p %s -c %s/nginx.conf > %s/logs/stdout 2>&1 &"):format(NGINX, dir, dir, dir))

local p = t.py([[
import socket, urllib.request
NGINX = int(sys.argv[2])
def from_127_0_0_2(port):
    for _ in range(100):
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        try:
            s.connect(("127.0.0.1", port))
            return s
        except ConnectionRefusedError:
            s.close(); time.sleep(0.05)
    raise SystemExit("nothing listens on %d" % port)
forged = {"X-Forwarded-For": "6.6.6.6"}
with connect("ws://127.0.0.1:%d/" % NGINX, sock=from_127_0_0_2(NGINX), additional_headers=forged) as c:
    print("via nginx:", c.recv(timeout=5))
with connect(URL, sock=from_127_0_0_2(PORT), additional_headers=forged) as c:
    print("direct:", c.recv(timeout=5))
s = from_127_0_0_2(NGINX)
s.sendall(b"GET /who HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n")
answer = b""
while True:
    chunk = s.recv(4096)
    if not chunk: break
    answer += chunk
print("http via nginx:", answer.split(b"\r\n\r\n", 1)[1].decode())
]], app.port, nginx_port)
local out = p.finish(20)
os.execute(("kill $(cat %s/nginx.pid) 2>/dev/null; rm -rf %s"):format(dir, dir))
t.check(out:find("via nginx: peer 127.0.0.2", 1, true), out)
t.check(out:find("direct: peer 127.0.0.2", 1, true), out)
t.check(out:find("http via nginx: peer 127.0.0.2", 1, true), out)
t.eq(upgrade_peers[1], "127.0.0.2", "on_upgrade's req.peer through nginx")
t.eq(upgrade_peers[2], "127.0.0.2", "on_upgrade's req.peer, direct")
t.raises(function()
  luna.new_web_app({ name = "bad", host = "127.0.0.1", port = 0, trusted_proxies = { "10.0.0.0/40" },
    protocols = { default = function() end } })
end, "trusted proxy '10.0.0.0/40' is not an address or a network")
t.raises(function()
  luna.new_web_app({ name = "bad", host = "127.0.0.1", port = 0, trusted_proxies = "127.0.0.1",
    protocols = { default = function() end } })
end, "'trusted_proxies' must be a non-empty list")
t.done()
