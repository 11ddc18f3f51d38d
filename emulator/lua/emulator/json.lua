-- JSON for the emulator's responses.
-- Decoding uses cjson. Encoding is our own because Debian's cjson 2.1.0 cannot tell an empty array
-- from an empty object, and the API's envelopes need `"errors": []` and `"resources": []`.
-- Object keys are written sorted, so equal data gives byte-equal bodies.
local cjson = require "cjson"

local M = {}

local array_mt = { __name = "emulator.json.array" }

M.null = cjson.null

-- Marks a table as a JSON array, so it encodes as [] even when empty.
function M.array(list)
    return setmetatable(list or {}, array_mt)
end

function M.is_array(value)
    return type(value) == "table" and getmetatable(value) == array_mt
end

function M.decode(text)
    local ok, value = pcall(cjson.decode, text)
    if not ok then
        return nil, tostring(value)
    end
    return value
end

local escapes = {
    ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
    ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function escape_char(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
end

local function encode_string(s, out)
    out[#out + 1] = '"' .. s:gsub('[%c"\\]', escape_char) .. '"'
end

local function is_sequence(t)
    local n = #t
    if n == 0 then
        return false
    end
    local count = 0
    for _ in pairs(t) do
        count = count + 1
    end
    return count == n
end

local encode_value

local function encode_number(n, out)
    if n ~= n or n == math.huge or n == -math.huge then
        out[#out + 1] = "null"
    elseif n == math.floor(n) and n > -2 ^ 53 and n < 2 ^ 53 then
        out[#out + 1] = string.format("%d", n)
    else
        out[#out + 1] = string.format("%.14g", n)
    end
end

local function encode_table(t, out, depth)
    if depth > 64 then
        error("json: nesting too deep")
    end
    if getmetatable(t) == array_mt or is_sequence(t) then
        out[#out + 1] = "["
        for i = 1, #t do
            if i > 1 then out[#out + 1] = "," end
            encode_value(t[i], out, depth + 1)
        end
        out[#out + 1] = "]"
        return
    end
    local keys = {}
    for k in pairs(t) do
        if type(k) ~= "string" then
            error("json: object key is not a string: " .. tostring(k))
        end
        keys[#keys + 1] = k
    end
    table.sort(keys)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        encode_string(k, out)
        out[#out + 1] = ":"
        encode_value(t[k], out, depth + 1)
    end
    out[#out + 1] = "}"
end

encode_value = function(v, out, depth)
    local kind = type(v)
    if kind == "string" then
        encode_string(v, out)
    elseif kind == "number" then
        encode_number(v, out)
    elseif kind == "boolean" then
        out[#out + 1] = v and "true" or "false"
    elseif kind == "table" then
        encode_table(v, out, depth)
    elseif v == nil or v == cjson.null then
        out[#out + 1] = "null"
    else
        error("json: cannot encode a " .. kind)
    end
end

function M.encode(value)
    local out = {}
    encode_value(value, out, 0)
    return table.concat(out)
end

return M
