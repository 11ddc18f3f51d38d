--- How the command line prints answers: JSON (indented with sorted keys on a terminal, one compact
-- line when piped), newline-delimited JSON for --all, and the resources as a table (cut to the
-- terminal's width), CSV or tab-separated text, all of them limited to --fields when given.
-- The encoder (falcon.json) has no indented output, so the indented form is written here; strings and
-- numbers still go through falcon.json.encode, so escaping is the encoder's.
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
  return json.encode(v)
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
    out[#out + 1] = inner .. json.encode(k) .. ": "
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

-- A value as the text of a cell: nested values as compact JSON; control characters (a line break, an
-- escape sequence a server sent) become spaces, except in CSV, which quotes line breaks.
local function cell(v, raw)
  if v == nil or v == json.null then return "" end
  if type(v) == "table" then return json.encode(v) end
  local s = type(v) == "number" and scalar(v) or tostring(v)
  if raw then return s end
  return (s:gsub("[%c]", " "))
end

-- Columns on a terminal: characters, not bytes (a UTF-8 sequence is one column).
local function width(s) return #(s:gsub("[\128-\191]", "")) end

-- `s` cut to `n` columns, "..." marking the cut.
local function cut(s, n)
  if width(s) <= n then return s end
  local keep, used = {}, 0
  for ch in s:gmatch("[%z\1-\127\192-\255][\128-\191]*") do
    if used + 1 > n - 3 then break end
    keep[#keep + 1], used = ch, used + 1
  end
  return table.concat(keep) .. string.rep(".", math.min(3, n))
end

--- The value at a field path ("id", "assigned_to.name") of a resource.
function M.field(row, path)
  local v = row
  for part in path:gmatch("[^.]+") do
    if type(v) ~= "table" or v == json.null then return nil end
    v = v[part]
  end
  return v
end

--- Resources that are plain values (ids), or objects.
function M.is_plain(rows)
  for _, row in ipairs(rows) do
    if type(row) ~= "table" or row == json.null or is_list(row) then return true end
  end
  return false
end

--- The columns of rows: `fields` when given, else every key (id first, then sorted), or `value` for
--- plain values.
function M.columns(rows, fields)
  if fields then return fields end
  if M.is_plain(rows) then return { "value" } end
  local columns, seen = {}, {}
  for _, row in ipairs(rows) do
    for k in pairs(row) do
      if not seen[k] then seen[k] = true; columns[#columns + 1] = tostring(k) end
    end
  end
  table.sort(columns, function(a, b)
    if a == "id" or b == "id" then return a == "id" and b ~= "id" end
    return a < b
  end)
  if #columns == 0 then columns = { "value" } end
  return columns
end

--- The cells of rows for columns: { {text, ...}, ... } (`raw`: control characters kept).
function M.cells(rows, columns, raw)
  local plain = M.is_plain(rows)
  local out = {}
  for r, row in ipairs(rows) do
    out[r] = {}
    for c, name in ipairs(columns) do out[r][c] = cell(plain and row or M.field(row, name), raw) end
  end
  return out
end

--- Each resource with only `fields` (a JSON null for a field it lacks), for JSON output.
function M.project(rows, fields)
  local out = json.array()
  for i, row in ipairs(rows) do
    local picked = {}
    for _, f in ipairs(fields) do
      local v = M.field(row, f)
      if v == nil then v = json.null end
      picked[f] = v
    end
    out[i] = picked
  end
  return out
end

-- Column widths that fit `limit` columns of screen: the widest are cut first, none below 8; the
-- columns that still do not fit are left out. Returns the widths and how many columns are shown.
local function fit(widths, limit)
  local function total(cap, n)
    local sum = 2 * (n - 1)
    for i = 1, n do sum = sum + math.min(widths[i], cap) end
    return sum
  end
  local cap = 0
  for _, w in ipairs(widths) do cap = math.max(cap, w) end
  while cap > 8 and total(cap, #widths) > limit do cap = cap - 1 end
  local shown = #widths
  while shown > 1 and total(cap, shown) > limit do shown = shown - 1 end
  local out = {}
  for i = 1, shown do out[i] = math.min(widths[i], cap) end
  return out, shown
end

--- A table: a header of the column names, one row per resource. `limit`: the terminal's width (cells
--- are cut, and columns left out, to fit it), nil when stdout is not a terminal. Returns the text and
--- the number of columns left out.
function M.table(rows, columns, limit)
  local cells = M.cells(rows, columns)
  local widths = {}
  for c, name in ipairs(columns) do widths[c] = width(name) end
  for _, r in ipairs(cells) do
    for c, text in ipairs(r) do widths[c] = math.max(widths[c], width(text)) end
  end
  local shown = #columns
  if limit then widths, shown = fit(widths, limit) end
  local lines = {}
  local function line(values)
    local parts = {}
    for c = 1, shown do
      local v = cut(values[c], widths[c])
      parts[c] = c < shown and (v .. string.rep(" ", widths[c] - width(v))) or v
    end
    lines[#lines + 1] = table.concat(parts, "  ")
  end
  local header = {}
  for c, name in ipairs(columns) do header[c] = name:upper() end
  line(header)
  for _, r in ipairs(cells) do line(r) end
  return table.concat(lines, "\n") .. "\n", #columns - shown
end

local function csv_field(text)
  if text:find('[",\r\n]') or text:find("^%s") or text:find("%s$") then return '"' .. text:gsub('"', '""') .. '"' end
  return text
end

--- CSV (RFC 4180): a header line of the column names, then a line per resource; nested values as JSON.
function M.csv(rows, columns, header)
  local lines = {}
  if header ~= false then
    local names = {}
    for c, name in ipairs(columns) do names[c] = csv_field(name) end
    lines[1] = table.concat(names, ",")
  end
  for _, r in ipairs(M.cells(rows, columns, true)) do
    for c, text in ipairs(r) do r[c] = csv_field(text) end
    lines[#lines + 1] = table.concat(r, ",")
  end
  return #lines > 0 and (table.concat(lines, "\r\n") .. "\r\n") or ""
end

--- Text as the aws CLI writes it: a line per resource, fields separated by tabs, no header.
function M.text(rows, columns)
  local lines = {}
  for _, r in ipairs(M.cells(rows, columns)) do
    for c, text in ipairs(r) do r[c] = text:gsub("\t", " ") end
    lines[#lines + 1] = table.concat(r, "\t")
  end
  return #lines > 0 and (table.concat(lines, "\n") .. "\n") or ""
end

return M
