--- JSON for falconlua, the one module that reads and writes it: every other module (the engine, the
-- command line, checkpoints, Event Streams) goes through `encode`, `decode`, `decoder`, `null` and
-- `array` here, and only this file requires lua-cjson (spec/json_spec.lua checks it).
--
-- Decoding is the C core's (csrc/json_decode.c, on yajl): the same parser decodes API answers while they
-- arrive and reads the token endpoint's answer into wiped C memory (csrc/token.c), so there is one
-- reading of JSON in the whole SDK. Integers become Lua integers on 5.3+ (exact to 64 bits; beyond, a
-- float), numbers with a fraction or exponent floats; on LuaJIT numbers as the VM has them. Depth, size
-- and string length are bounded (limits {max_depth, max_size, max_string}; defaults 1000 levels,
-- 256 MiB, 16 MiB).
--
-- Encoding is lua-cjson's. Debian's lua-cjson 2.1.0 has no `empty_array`/`array_mt`: an empty Lua table
-- always encodes as `{}`. The Falcon API rejects `{"ids": {}}` where it wants `[]`, so tables that must
-- be arrays are marked, either by the caller (`json.array(t)`), by a schema (`json.encode(v, schema)`)
-- or by the decoder (every decoded array carries the mark), and the marks are turned into `[]` after
-- cjson has done the real work. `json.null` is `cjson.null` (the light userdata NULL, which the decoder
-- gives for JSON null too) and survives encoding as `null`.
local cjson = require "cjson"
local core = require "falcon.core"
local errors = require "falcon.base.errors"

local M = {}

M.null = cjson.null

local array_mt = core.json_array_mt -- the mark the C decoder puts on arrays

--- Marks a table as a JSON array (so that it encodes as `[]` when empty).
-- @tparam[opt] table t the table (a new one when nil)
-- @treturn table t
function M.array(t)
  t = t or {}
  if type(t) ~= "table" then errors.bad_argument("json.array", "t", "table expected, got " .. type(t)) end
  return setmetatable(t, array_mt)
end

--- True when `t` carries the array mark.
function M.is_array(t)
  return type(t) == "table" and getmetatable(t) == array_mt
end

-- A token no user string can equal: built once per process from a random-ish seed.
local token = string.format("\1falcon-empty-array-%x-%x\1", math.floor(os.time()), math.random(0, 0x7fffffff))
local quoted_token = cjson.encode(token)

-- Schema: "array" | { array = <item schema> } | { fields = { name = <schema> } } | { list = <schema> }.
-- `list` marks a list whose items follow the schema (e.g. a list of aggregate requests).
local function prepare(value, schema, seen)
  if type(value) ~= "table" or value == M.null then return value, false end
  if seen[value] then errors.raise("json.encode", "table cycle") end
  seen[value] = true
  local marked = getmetatable(value) == array_mt or schema == "array"
    or (type(schema) == "table" and (schema.array ~= nil or schema.list ~= nil))
  if marked and next(value) == nil then
    seen[value] = nil
    return token, true
  end
  local out, changed = {}, false
  local item_schema = type(schema) == "table" and (schema.array or schema.list) or nil
  local fields = type(schema) == "table" and schema.fields or nil
  for k, v in pairs(value) do
    if type(v) == "table" then
      local sub
      if item_schema and type(k) == "number" then sub = item_schema
      elseif fields then sub = fields[k] end
      local nv, c = prepare(v, sub, seen)
      out[k] = nv
      changed = changed or c
    else
      out[k] = v -- nothing to mark below a string, a number, null (no call per item of a list of ids)
    end
  end
  seen[value] = nil
  if changed then return out, true end
  return value, false
end

--- Encodes a Lua value as JSON.
-- @param value any Lua value cjson can encode
-- @tparam[opt] table|string schema where arrays are expected (see above)
-- @treturn string JSON text
function M.encode(value, schema)
  local prepared, changed = prepare(value, schema, {})
  if prepared == token then return "[]" end
  local text = cjson.encode(prepared)
  if changed then
    -- plain find/replace: the token has no pattern magic once escaped
    local parts, start = {}, 1
    while true do
      local i, j = text:find(quoted_token, start, true)
      if not i then break end
      parts[#parts + 1] = text:sub(start, i - 1)
      parts[#parts + 1] = "[]"
      start = j + 1
    end
    parts[#parts + 1] = text:sub(start)
    text = table.concat(parts)
  end
  return text
end

--- Decodes JSON text; raises on invalid JSON or an exceeded limit (the message names it).
-- @tparam string text
-- @tparam[opt] table limits {max_depth, max_size, max_string}
function M.decode(text, limits)
  return core.json_decode(text, limits)
end

--- A decoder of newline-delimited JSON fed in any pieces: `d:feed(bytes)` -> true | nil, err;
-- `d:next()` -> the next complete value or nil; `d:finish()` -> true | nil, err (a value left open).
-- @tparam[opt] table limits {max_depth, max_size, max_string}; max_size counts one value's bytes
function M.decoder(limits)
  return core.json_decoder(limits)
end

return M
