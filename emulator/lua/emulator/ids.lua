-- Identifiers for things created at run time (cases, activities, attachments, trace ids, tokens).
-- Seeded data uses emulator.seed's deterministic generator instead.
local M = {}

local random = math.random

function M.hex(n)
    local parts = {}
    for i = 1, n do
        parts[i] = string.format("%x", random(0, 15))
    end
    return table.concat(parts)
end

-- Version-4 UUID text (trace ids).
function M.uuid()
    local h = M.hex(32)
    local variant = string.format("%x", 8 + random(0, 3))
    return h:sub(1, 8) .. "-" .. h:sub(9, 12) .. "-4" .. h:sub(14, 16) .. "-" .. variant .. h:sub(18, 20)
        .. "-" .. h:sub(21, 32)
end

local urandom

-- Bearer tokens come from the kernel's generator: they must not be guessable from trace ids.
function M.token()
    if not urandom then
        urandom = assert(io.open("/dev/urandom", "rb"))
    end
    local bytes = urandom:read(48)
    return (ngx.encode_base64(bytes):gsub("[+/=]", { ["+"] = "-", ["/"] = "_", ["="] = "" }))
end

return M
