-- The one header-lines builder and the one string-list builder both modules use: a header
-- that would change its line (a name that is not a token, a NUL, CR or LF in a value, a
-- value that is not a string or number) is refused with what is wrong; lists of values
-- only where asked for; a string list keeps its strings and count, nil for no list.
local t = require("helper")
local ffi = require("ffi")
local check = require("luna.check")

local lines = check.header_lines({ ["X-One"] = "1", ["X-Two"] = 2 })
table.sort(lines)
t.eq(table.concat(lines, "|"), "X-One: 1|X-Two: 2", "plain header lines")

lines = check.header_lines({ ["Set-Cookie"] = { "a=1", "b=2" } }, true)
t.eq(table.concat(lines, "|"), "Set-Cookie: a=1|Set-Cookie: b=2", "a list of values, in order")

local refused = {
  { { ["Set-Cookie"] = { "a=1" } }, false, "header 'Set-Cookie' must be a string, got table" },
  { { ["X-A"] = "a\0b" }, true, "header 'X-A' contains a NUL byte" },
  { { ["X-A"] = { "ok", "a\rb" } }, true, "header 'X-A' contains a line break (CR or LF)" },
  { { ["X-A"] = "a\nb" }, false, "header 'X-A' contains a line break (CR or LF)" },
  { { ["X A"] = "v" }, false, 'header name string "X A" is not a token' },
  { { ["X:A"] = "v" }, true, 'header name string "X:A" is not a token' },
  { { [1] = "v" }, false, "header name number 1 is not a token" },
  { { ["X-A"] = true }, true, "header 'X-A' must be a string, got boolean true" },
}
for i, case in ipairs(refused) do
  local got, problem = check.header_lines(case[1], case[2])
  t.eq(got, nil, "case " .. i .. " lines")
  t.check(problem and problem:find(case[3], 1, true) == 1,
    ("case %d: expected %q, got %s"):format(i, case[3], tostring(problem)))
end

local list, count = check.c_strings(nil)
t.eq(list, nil, "no list")
t.eq(count, 0, "no list count")
list, count = check.c_strings({})
t.check(list ~= nil, "an empty list is still an array")
t.eq(count, 0, "empty list count")
local strings = { "first", "second" }
list, count = check.c_strings(strings)
t.eq(count, 2, "count")
t.eq(ffi.string(list[0]), "first", "first string")
t.eq(ffi.string(list[1]), "second", "second string")

-- Config errors name the caller and the key, with no position: the constructor adds its
-- caller's.
local c = check.checker("demo.new")
local ok, err = pcall(c.integer, { n = 1.5 }, "n", 0, 10)
t.eq(ok, false, "integer check")
t.eq(err, "demo.new: 'n' must be an integer 0..10, got number 1.5", "integer message")
ok, err = pcall(c.c_string, "path", "a\0b")
t.eq(err, 'demo.new: \'path\' must be a string without NUL bytes, got string "a\\0b"', "NUL message")
t.done()
