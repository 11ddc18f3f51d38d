--- JSON for falconlua: lua-cjson with empty arrays that stay arrays.
--
-- Debian's lua-cjson 2.1.0 has no `empty_array`/`array_mt`: an empty Lua table always encodes
-- as `{}`. The Falcon API rejects `{"ids": {}}` where it wants `[]`, so tables that must be
-- arrays are marked, either by the caller (`json.array(t)`) or by a schema (`json.encode(v,
-- schema)`), and the marks are turned into `[]` after cjson has done the real work.
-- `json.null` is `cjson.null` and survives encoding as `null`.
local cjson = require "cjson"

local M = {}

M.null = cjson.null

local array_mt = { __name = "falcon.json.array" }

--- Marks a table as a JSON array (so that it encodes as `[]` when empty).
-- @tparam[opt] table t the table (a new one when nil)
-- @treturn table t
function M.array(t)
  t = t or {}
  if type(t) ~= "table" then error("falcon.json.array: table expected, got " .. type(t), 2) end
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
  if seen[value] then error("falcon.json.encode: table cycle", 0) end
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
    local sub
    if item_schema and type(k) == "number" then sub = item_schema
    elseif fields then sub = fields[k] end
    local nv, c = prepare(v, sub, seen)
    out[k] = nv
    changed = changed or c
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

--- Decodes JSON text (cjson; JSON null becomes json.null).
function M.decode(text)
  return cjson.decode(text)
end

return M
