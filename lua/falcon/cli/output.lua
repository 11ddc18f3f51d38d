--- How the command line prints answers: JSON (indented with sorted keys on a terminal, one compact
-- line when piped), newline-delimited JSON for --all, and a plain table for flat resources.
-- lua-cjson has no indented output, so the indented form is written here; strings and numbers still
-- go through cjson, so escaping is cjson's.
local cjson = require "cjson"
local json = require "falcon.json"

local M = {}

local function is_list(t)
  if json.is_array(t) then return true end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n > 0 and n == #t
end

local function scalar(v)
  if v == json.null then return "null" end
  if type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
  return cjson.encode(v)
end

local function indented(value, depth, out)
  if type(value) ~= "table" or value == json.null then
    out[#out + 1] = scalar(value)
    return
  end
  local pad, inner = string.rep("  ", depth), string.rep("  ", depth + 1)
  if is_list(value) then
    if #value == 0 then out[#out + 1] = "[]"; return end
    out[#out + 1] = "[\n"
    for i, v in ipairs(value) do
      out[#out + 1] = inner
      indented(v, depth + 1, out)
      out[#out + 1] = i < #value and ",\n" or "\n"
    end
    out[#out + 1] = pad .. "]"
    return
  end
  local keys = {}
  for k in pairs(value) do keys[#keys + 1] = tostring(k) end
  if #keys == 0 then out[#out + 1] = "{}"; return end
  table.sort(keys)
  out[#out + 1] = "{\n"
  for i, k in ipairs(keys) do
    local v = value[k]
    if v == nil then v = value[tonumber(k)] end
    out[#out + 1] = inner .. cjson.encode(k) .. ": "
    indented(v, depth + 1, out)
    out[#out + 1] = i < #keys and ",\n" or "\n"
  end
  out[#out + 1] = pad .. "}"
end

--- JSON text of a value: indented with sorted keys (pretty) or one compact line.
function M.json(value, pretty)
  if not pretty then return json.encode(value) end
  local out = {}
  indented(value, 0, out)
  return table.concat(out)
end

local function cell(v)
  if v == nil or v == json.null then return "" end
  if type(v) == "table" then return json.encode(v) end
  local s = type(v) == "number" and scalar(v) or tostring(v)
  return (s:gsub("[%c]", " "))
end

--- A table of resources: one row each, one column per key (id first), or one `value` column for
-- resources that are plain values (ids). Nested values are shown as compact JSON.
function M.table(rows)
  local columns, seen = {}, {}
  local plain = false
  for _, row in ipairs(rows) do
    if type(row) == "table" and row ~= json.null and not is_list(row) then
      for k in pairs(row) do
        if not seen[k] then seen[k] = true; columns[#columns + 1] = tostring(k) end
      end
    else
      plain = true
    end
  end
  table.sort(columns, function(a, b)
    if a == "id" or b == "id" then return a == "id" and b ~= "id" end
    return a < b
  end)
  if plain or #columns == 0 then columns = { "value" } end
  local cells, widths = {}, {}
  for c, name in ipairs(columns) do widths[c] = #name end
  for r, row in ipairs(rows) do
    cells[r] = {}
    for c, name in ipairs(columns) do
      local v = (name == "value" and plain) and row or (type(row) == "table" and row[name] or nil)
      local text = cell(v)
      cells[r][c] = text
      if #text > widths[c] then widths[c] = #text end
    end
  end
  local lines = {}
  local function line(values)
    local parts = {}
    for c, v in ipairs(values) do
      parts[c] = c < #values and (v .. string.rep(" ", widths[c] - #v)) or v
    end
    lines[#lines + 1] = table.concat(parts, "  ")
  end
  local header = {}
  for c, name in ipairs(columns) do header[c] = name:upper() end
  line(header)
  for _, r in ipairs(cells) do line(r) end
  return table.concat(lines, "\n")
end

return M
