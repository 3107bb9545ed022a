-- resume = { window, buffer } against a Python websockets client that asks in the URL as
-- luna's clients do: a plain client sees nothing new; the answer comes first; a drop is
-- resumed with what the client missed (on_upgrade is told, ws.resumed counts); a forged
-- token is closed with 4404; a window that passed, or a paused session sent more than its
-- buffer, ends the session for its handler (1006) and a later resume gets 4404; a client
-- that claims fewer messages than the ring still holds gets 4413 and the session ends. An app
-- without resume answers a resume with 4404 too (its handler never runs), and a request for
-- a new session there is a plain connection.
local t = require("helper")
local luna = t.luna

local sessions, upgrades = {}, {}
local app = luna.new_web_app({ name = "resume", host = "127.0.0.1", port = 0,
  resume = { window = 1.5, buffer = 100 },
  on_upgrade = function(req)
    upgrades[#upgrades + 1] = req.resume
    return true
  end,
  protocols = { default = function(ws)
    local rec = { ws = ws }
    sessions[#sessions + 1] = rec
    ws.on_close = function(_, code, reason) rec.code, rec.reason = code, reason end
    ws:send("hello")
    while true do
      local m = ws:receive()
      if not m then return end
      rec.last = m
      if m == "big" then
        for i = 1, 3 do ws:send(i .. ("x"):rep(59)) end
      else
        ws:send("ok " .. m)
      end
    end
  end } })

local p = t.py([[
import socket
def drop(c):
    # The end of TCP without a closing handshake, as when a network drops a connection.
    c.socket.shutdown(socket.SHUT_RDWR)
def ask(nonce, extra=""):
    return connect(URL + "/?luna_resume=" + nonce + extra)
def start(nonce):
    c = ask(nonce)
    word, n, token, had = c.recv(timeout=5).split()
    assert (word, n, had) == ("luna-session", nonce, "0"), (word, n, had)
    assert c.recv(timeout=5) == "hello"
    return c, token
def back(nonce, token, had):
    return ask(nonce, "&luna_session=%s&luna_received=%d" % (token, had))

c = connect(URL)
print("plain", c.recv(timeout=5), flush=True)
c.close()

print("forged", closed_code(back("na", "forged", 0)), flush=True)

c, token = start("nf")
c.send("one"); assert c.recv(timeout=5) == "ok one"
drop(c); time.sleep(0.3)
c = back("nf2", token, 1)
print("resumed", c.recv(timeout=5), "|", c.recv(timeout=5), "|", token, flush=True)
c.send("two"); print("after", c.recv(timeout=5), flush=True)
c.close()

c, token = start("nb")
drop(c); time.sleep(2.0)
print("expired", closed_code(back("nb2", token, 1)), flush=True)

c, token = start("nc")
drop(c)
print("dropped", flush=True)
time.sleep(0.6)
print("overflowed", closed_code(back("nc2", token, 1)), flush=True)

c, token = start("nd")
c.send("big")
for i in range(3): c.recv(timeout=5)
drop(c); time.sleep(0.3)
print("ring", closed_code(back("nd2", token, 0)), flush=True)
]], app.port)

-- The paused session "nc" is sent more than its buffer while its client is away.
t.pump_until(function() return p.output():find("dropped", 1, true) or p.done() end, 20, "nc dropped")
for _ = 1, 20 do luna.wait(0.01) end
local paused = sessions[#sessions].ws
-- 60 bytes fit its buffer of 100; the next 60 push out the first: the session ends.
for i = 1, 2 do
  local ok, err = paused:send(("y"):rep(60))
  t.eq(ok, true, "send " .. i .. " to a paused session is kept (" .. tostring(err) .. ")")
end
local out = p.finish(20)

t.check(out:find("plain hello\n", 1, true), "a plain client sees the app's first message first: " .. out)
t.check(out:find("forged (4404, 'no such session')", 1, true), "a forged token: " .. out)
local token = out:match("resumed luna%-session nf2 (%S+) 1 | ok one | (%S+)")
t.check(token, "a resume gets the answer (it had 1 of ours), then what it missed: " .. out)
t.check(out:find("after ok two", 1, true), "the session goes on: " .. out)
t.check(out:find("expired (4404, 'no such session')", 1, true), "after the window: " .. out)
t.check(out:find("overflowed (4404, 'no such session')", 1, true), "after an overflow: " .. out)
t.check(out:find("ring (4413, 'resume buffer overflow')", 1, true), "the ring lost what it claims: " .. out)

-- The handlers: one per session; the resumed one saw "two" and one resume.
t.eq(#sessions, 5, "handlers: plain, nf, nb, nc, nd")
local plain, nf, nb, nc, nd = unpack(sessions)
t.eq(plain.code, 1000, "the plain client closed")
t.eq(nf.ws.resumed, 1, "ws.resumed")
t.eq(nf.last, "two", "the resumed handler went on")
t.eq(nb.code, 1006, "window passed: close code")
t.check(nb.reason:find("not resumed within", 1, true), nb.reason)
t.eq(nc.code, 1006, "overflow: close code")
t.check(nc.reason:find("more was sent than its buffer holds", 1, true), nc.reason)
t.eq(nd.code, 1006, "ring: close code")
t.check(nd.reason:find("no longer fit its buffer", 1, true), nd.reason)
-- on_upgrade: plain, forged (a resume), nf, nf's resume, nb, nb's, nc, nc's, nd, nd's.
t.eq(table.concat((function()
  local l = {} for i, r in ipairs(upgrades) do l[i] = tostring(r) end return l end)(), ","),
  "false,true,false,true,false,true,false,true,false,true", "on_upgrade's req.resume")
-- An app without resume.
local plain_handlers = 0
local plain_app = luna.new_web_app({ name = "no-resume", host = "127.0.0.1", port = 0,
  protocols = { default = function(ws)
    plain_handlers = plain_handlers + 1
    ws:send("hello")
    ws:receive()
  end } })
local q = t.py([[
c = connect(URL + "/?luna_resume=n1&luna_session=a.b&luna_received=3")
print("resume", closed_code(c), flush=True)
c = connect(URL + "/?luna_resume=n2")
print("new", c.recv(timeout=5), flush=True)
c.close()
]], plain_app.port)
local plain_out = q.finish(10)
t.check(plain_out:find("resume (4404, 'no such session')", 1, true), plain_out)
t.check(plain_out:find("new hello", 1, true), "no answer, the app's first message: " .. plain_out)
t.eq(plain_handlers, 1, "only the new connection reached a handler")
t.done()
