-- The fields `luna` (servers) and `lunac` (clients) both show: the opcodes, the library's
-- version and path, and whether it was built with TLS.
local ffi = require("ffi")
local lib = require("luna.lib")
local C = lib.load()

local tonumber = tonumber

local M = {}

-- The header's opcodes (LUNA_OPCODE_*), under the names the original Luna framework used.
M.opcodes = {
  CONTINUATION = tonumber(C.LUNA_OPCODE_CONTINUATION), TEXT = tonumber(C.LUNA_OPCODE_TEXT),
  BINARY = tonumber(C.LUNA_OPCODE_BINARY), CLOSE = tonumber(C.LUNA_OPCODE_CLOSE),
  PING = tonumber(C.LUNA_OPCODE_PING), PONG = tonumber(C.LUNA_OPCODE_PONG),
}


-- Sets the shared fields on module table `module`.
function M.export(module)
  module.opcodes = M.opcodes
  module.version = ffi.string(C.luna_version())
  module.lib_path = lib.path
  module.has_tls = C.luna_has_tls() ~= 0
  return module
end


return M
