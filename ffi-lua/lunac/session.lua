-- A client's side of session resume, without I/O: the URL that asks for a session (or to
-- resume one), the server's answer, the count of messages had, and the ring of messages sent
-- that the server may not have had yet.
--
-- The exchange: the client adds `luna_resume=NONCE` to its URL (coming back, also
-- `luna_session=TOKEN&luna_received=N`, N being the messages it has had). A luna server with
-- `resume` answers with a first text message `luna-session NONCE TOKEN M`, M being the
-- messages it has had from the client; the fresh NONCE tells that message from any the app
-- sends. The client then sends again what came after its M-th message.
local C = require("luna.lib").load()

local tonumber, setmetatable, format, concat = tonumber, setmetatable, string.format, table.concat

local M = {}

local Session = {}
Session.__index = Session


-- A session of at most `buffer` bytes of sent messages kept for a resend.
function M.new(buffer)
  return setmetatable({
    token = nil, nonce = nil,
    received = 0,             -- data messages had from the server in this session
    sent = 0,                 -- data messages handed to a connection in this session
    ring = {}, first = 1,     -- ring[i] = { data, opcode }: message number first + i - 1
    bytes = 0, buffer = buffer,
  }, Session)
end


-- A nonce no message of the app will carry by chance: 64 bits from the clock and a
-- generator of our own (the nonce needs to be fresh, not secret: the token is the secret).
local state = (tonumber(C.luna_clock_ms()) * 40503 + os.time()) % 4294967291
local function nonce()
  local words = {}
  for i = 1, 4 do
    state = (state * 279470273) % 4294967291
    words[i] = format("%04x", state % 65536)
  end
  return concat(words)
end


-- The URL of the next attempt: `url` plus the ask.
function Session:ask_url(url)
  self.nonce = nonce()
  local ask = "luna_resume=" .. self.nonce
  if self.token then
    ask = format("%s&luna_session=%s&luna_received=%d", ask, self.token, self.received)
  end
  return url .. (url:find("?", 1, true) and "&" or "?") .. ask
end


-- Whether `message` is the server's answer to this attempt's ask; if so returns the token
-- and how many of our messages the server had.
function Session:read_answer(message)
  local nonce, token, had = message:match("^luna%-session (%S+) (%S+) (%d+)$")
  if nonce ~= self.nonce then
    return nil
  end
  return token, tonumber(had)
end


-- Forgets the session: the next attempt asks for a new one.
function Session:forget()
  self.token, self.received, self.sent = nil, 0, 0
  self.ring, self.first, self.bytes = {}, 1, 0
end


-- Keeps a message handed to the connection, dropping the oldest past the buffer.
function Session:keep(data, opcode)
  self.sent = self.sent + 1
  local ring = self.ring
  ring[#ring + 1] = { data, opcode }
  self.bytes = self.bytes + #data
  local drop = 0
  while self.bytes > self.buffer and drop < #ring do
    drop = drop + 1
    self.bytes = self.bytes - #ring[drop][1]
  end
  if drop > 0 then
    self:shift(drop)
  end
end


function Session:shift(n)
  local ring, kept = self.ring, {}
  for i = n + 1, #ring do kept[#kept + 1] = ring[i] end
  self.ring, self.first = kept, self.first + n
end


-- After the server said it had `had` of our messages: the ones it did not have, in order
-- (still kept, numbered as before: resending them is not sending anew), or nil when the ring
-- no longer holds them all (or `had` is more than was sent).
function Session:unacknowledged(had)
  if had > self.sent or had + 1 < self.first then
    return nil
  end
  local skip = had + 1 - self.first
  for i = 1, skip do self.bytes = self.bytes - #self.ring[i][1] end
  self:shift(skip)
  return self.ring
end

return M
