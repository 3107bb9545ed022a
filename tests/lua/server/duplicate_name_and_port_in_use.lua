-- Duplicate names and busy ports: an error (or nil, err with no_errors); nothing half-started.
local t = require("helper")
local luna = t.luna
local h = { default = function() end }

local a = luna.new_web_app({ name = "dup", host = "127.0.0.1", port = 0, protocols = h })
t.raises(function() luna.new_web_app({ name = "dup", host = "127.0.0.1", port = 0, protocols = h }) end,
  "an app named \"dup\" already exists")
local seen
local app, err = luna.new_web_app({ name = "dup", host = "127.0.0.1", port = 0, protocols = h,
  no_errors = true, error_handler = function(e) seen = e end })
t.eq(app, nil, "app with duplicate name")
t.check(err:find("already exists", 1, true), err)
t.eq(seen, err, "error_handler got the error")

t.raises(function() luna.new_web_app({ name = "busy", host = "127.0.0.1", port = a.port, protocols = h }) end,
  "cannot start \"busy\" on 127.0.0.1 port " .. a.port)
app, err = luna.new_web_app({ name = "busy", host = "127.0.0.1", port = a.port, protocols = h, no_errors = true })
t.eq(app, nil, "app on a busy port")
t.check(err:find("cannot start", 1, true), err)
t.raises(function() luna.new_web_app({ name = "dns", host = "no-such-host.invalid", port = 0, protocols = h }) end,
  "cannot start \"dns\"")
-- The failed names are free and only "dup" is live.
t.eq(#luna.apps(), 1, "live apps")
local b = luna.new_web_app({ name = "busy", host = "127.0.0.1", port = 0, protocols = h })
t.check(b.port ~= a.port, "second app has its own port")
t.done()
