-- Rooms through topics: clients join and leave by message; ws:publish reaches the room but
-- not the sender, app:publish the whole room, each returning the count; ws:subscriptions()
-- lists the rooms; closing ends a connection's subscriptions; misuse raises at the caller,
-- a closed connection answers nil, "closed".
local t = require("helper")
local luna = t.luna
local counts, closed, misuse = {}, {}, nil
local app


-- Raises inside pcall and returns the message.
local function raised(fn, ...)
  local ok, err = pcall(fn, ...)
  return ok and "no error" or tostring(err)
end


local function check_misuse(ws)
  misuse = {
    topic_number = raised(function() ws:subscribe(42) end),
    unsubscribe_nil = raised(ws.unsubscribe, ws, nil),
    publish_table = raised(ws.publish, ws, {}, "x"),
    publish_data = raised(function() ws:publish("red", {}) end),
    bad_opcode = raised(function() ws:publish("red", "x", 7) end),
    opcode_type = raised(app.publish, app, "red", "x", "text"),
    long_topic = raised(ws.subscribe, ws, string.rep("t", 257)),
    utf8 = { app:publish("nobody", "\255", luna.opcodes.TEXT) },
    longest = { ws:subscribe(string.rep("t", 256)) },
  }
  ws:unsubscribe(string.rep("t", 256))
end


local function rooms(ws)
  ws.on_close = function(self) closed[#closed + 1] = self end
  if not misuse then
    check_misuse(ws)
  end
  while true do
    local msg = ws:receive()
    if not msg then return end
    local verb, room, text = msg:match("^(%a+):?([^:]*):?(.*)$")
    if verb == "join" then
      ws:send((ws:subscribe(room) and "joined:" or "already:") .. room)
    elseif verb == "leave" then
      ws:send((ws:unsubscribe(room) and "left:" or "not in:") .. room)
    elseif verb == "list" then
      ws:send("list:" .. table.concat(ws:subscriptions(), ","))
    elseif verb == "say" then
      counts[text] = ws:publish(room, text)
    elseif verb == "all" then
      counts[text] = app:publish(room, text)
    end
  end
end


app = luna.new_web_app({ name = "topics", host = "127.0.0.1", port = 0,
  protocols = { default = rooms } })
local p = t.py([[
a = connect(URL); b = connect(URL); c = connect(URL); d = connect(URL)
def cmd(conn, text):
    conn.send(text)
    return conn.recv(timeout=5)
def nothing(name, conn):
    try: print(name, conn.recv(timeout=0.3))
    except TimeoutError: print(name, "nothing")
for conn, text in ((a, "join:red"), (b, "join:red"), (c, "join:blue"), (d, "join:red"),
                   (d, "join:blue"), (a, "join:red")):
    print(cmd(conn, text))
a.send("say:red:hi from a")
print("b", b.recv(timeout=5)); print("d", d.recv(timeout=5))
nothing("a", a); nothing("c", c)
c.send("all:blue:to blue")
print("c", c.recv(timeout=5)); print("d", d.recv(timeout=5))
nothing("a", a); nothing("b", b)
print(cmd(d, "leave:red")); print(cmd(d, "leave:red")); print(cmd(d, "list"))
a.send("say:red:second")
print("b", b.recv(timeout=5))
nothing("d", d)
b.close()
time.sleep(0.3)
a.send("say:red:after b")
a.send("all:red:after b, to all")
print("a", a.recv(timeout=5))
print(cmd(a, "list"))
for conn in (a, c, d): conn.close()
]], app.port)
local out = p.finish(20)
t.check(out:find(table.concat({ "joined:red", "joined:red", "joined:blue", "joined:red",
  "joined:blue", "already:red", "b hi from a", "d hi from a", "a nothing", "c nothing",
  "c to blue", "d to blue", "a nothing", "b nothing", "left:red", "not in:red", "list:blue",
  "b second", "d nothing", "a after b, to all", "list:red" }, "\n"), 1, true), out)
t.eq(counts["hi from a"], 2, "ws:publish count (b and d, not a)")
t.eq(counts["to blue"], 2, "app:publish count (c and d)")
t.eq(counts["second"], 1, "after d left")
t.eq(counts["after b"], 0, "b closed, a is the sender")
t.eq(counts["after b, to all"], 1, "app:publish after b closed")

-- Misuse raises at the caller's line; runtime failures return nil, message.
t.check(misuse.topic_number:find("ws:subscribe: topic must be a string, got number 42", 1, true),
  misuse.topic_number)
t.check(misuse.topic_number:find("topics_subscribe_publish.lua:", 1, true), misuse.topic_number)
t.check(misuse.unsubscribe_nil:find("ws:unsubscribe: topic must be a string, got nil", 1, true),
  misuse.unsubscribe_nil)
t.check(misuse.publish_table:find("ws:publish: topic must be a string", 1, true), misuse.publish_table)
t.check(misuse.publish_data:find("ws:publish: data must be a string", 1, true), misuse.publish_data)
t.check(misuse.publish_data:find("topics_subscribe_publish.lua:", 1, true), misuse.publish_data)
t.check(misuse.bad_opcode:find("ws:publish: opcode 7", 1, true), misuse.bad_opcode)
t.check(misuse.bad_opcode:find("topics_subscribe_publish.lua:", 1, true), misuse.bad_opcode)
t.check(misuse.opcode_type:find("app:publish: opcode must be an integer", 1, true), misuse.opcode_type)
t.check(misuse.long_topic:find("ws:subscribe: topic is 257 bytes long; the limit is 256", 1, true),
  misuse.long_topic)
t.eq(misuse.utf8[1], nil, "invalid UTF-8 TEXT")
t.check(tostring(misuse.utf8[2]):lower():find("utf-8", 1, true), misuse.utf8[2])
t.eq(misuse.longest[1], true, "a 256-byte topic")

-- Closed connections answer nil, "closed"; their subscriptions are gone.
t.pump_until(function() return #closed == 4 end, 10, "every close")
local gone = closed[1]
for _, call in ipairs({ { gone.subscribe, "red" }, { gone.unsubscribe, "red" },
    { gone.subscriptions }, { gone.publish, "red", "x" } }) do
  local ok, err = call[1](gone, call[2], call[3])
  t.eq(ok, nil, "call on a closed ws")
  t.eq(err, "closed", "its error")
end
t.eq(app:publish("red", "x"), 0, "nobody left in red")
t.eq(app:publish("blue", "x"), 0, "nobody left in blue")
luna.remove_web_app(app)
t.eq(select(2, app:publish("red", "x")), "closed", "publish on a removed app")
t.eq(select(2, gone:subscribe("red")), "closed", "subscribe on a removed app")
t.done()
