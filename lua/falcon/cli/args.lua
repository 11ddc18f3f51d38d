--- Command-line words -> the keyword table a service method takes, typed by the operation's table:
-- `--limit 10` becomes limit = 10, `--ids a,b --ids c` becomes ids = { "a", "b", "c" },
-- `--body @case.json` the decoded file. Problems are usage errors (exit 2) naming the flag.
local catalog = require "falcon.cli.catalog"
local suggest = require "falcon.base.suggest"
local json = require "falcon.json"

local M = {}

--- A usage error: main prints it and exits 2.
local Usage = {}
Usage.__index = Usage
Usage.__tostring = function(e) return e.message end
function M.usage(fmt, ...)
  error(setmetatable({ message = string.format(fmt, ...) }, Usage), 0)
end
function M.is_usage(e) return getmetatable(e) == Usage end
local usage = M.usage

local function read_file(path, what)
  local f, err = io.open(path, "rb")
  if not f then usage("%s: cannot read %s", what, err) end
  local text = f:read("*a")
  f:close()
  return text
end

--- JSON from text, or from a file when the text starts with '@'.
function M.json_value(text, what)
  if text:sub(1, 1) == "@" then text = read_file(text:sub(2), what) end
  local ok, value = pcall(json.decode, text)
  if not ok then usage("%s: not valid JSON (%s)", what, tostring(value):gsub("^.-: ", "")) end
  return value
end

local function number_of(kw, text, what)
  local n = tonumber(text)
  if not n or (kw.type == "integer" and n ~= math.floor(n)) then
    usage("%s: %s expected, got '%s'", what, kw.type, text)
  end
  return n
end

local booleans = { ["true"] = true, yes = true, ["1"] = true, ["false"] = false, no = false, ["0"] = false }

--- One typed value for a keyword from its text.
local function scalar(kw_type, text, what)
  if kw_type == "integer" or kw_type == "number" then return number_of({ type = kw_type }, text, what) end
  if kw_type == "boolean" then
    local b = booleans[text:lower()]
    if b == nil then usage("%s: true or false expected, got '%s'", what, text) end
    return b
  end
  if kw_type == "object" then return M.json_value(text, what) end
  return text
end

--- Adds one occurrence of a keyword to args (lists grow, commas split lists of scalars).
local function add(args, kw, text, what)
  if kw.type == "array" then
    local list = args[kw.name] or {}
    if (kw.items or "string") == "object" then
      local v = M.json_value(text, what)
      if type(v) == "table" and #v > 0 then for _, x in ipairs(v) do list[#list + 1] = x end
      else list[#list + 1] = v end
    else
      for piece in text:gmatch("[^,]+") do list[#list + 1] = scalar(kw.items or "string", piece, what) end
    end
    args[kw.name] = list
    return
  end
  if args[kw.name] ~= nil then usage("%s given twice", what) end
  args[kw.name] = scalar(kw.type, text, what)
end

-- A parameter name with case, dashes and underscores ignored: --app-id, --app_id and --appId are appId.
local function squashed(name) return (name:lower():gsub("[%-_]", "")) end

--- The keyword specs of an operation by name (and by squashed name), plus the names shown in hints.
local function keyword_table(op)
  local by_name, typed = {}, {}
  for _, kw in ipairs(catalog.keywords(op)) do
    by_name[kw.name] = kw
    by_name[squashed(kw.name)] = by_name[squashed(kw.name)] or kw
    typed[#typed + 1] = kw.name:gsub("_", "-")
  end
  return by_name, typed
end

--- Flags and key=value pairs -> keywords. `flags` is a list of { name, value, style } where style is
-- "flag" (--name value) or "pair" (name=value); `positional` the bare words (ids for operations that
-- take them positionally). Returns the keywords and what the user typed for each ({ limit = "--limit" }).
function M.keywords(op, flags, positional)
  local by_name, typed = keyword_table(op)
  local args, words = {}, {}
  for _, f in ipairs(flags) do
    local kw = by_name[f.name] or by_name[(f.name:gsub("%-", "_"))] or by_name[squashed(f.name)]
    local what = f.style == "flag" and ("--" .. f.name) or f.name
    if not kw then
      local hint = suggest.words(suggest.nearest(f.name:gsub("_", "-"), typed), f.style == "flag" and "--" or "")
      usage("%s: unknown parameter '%s'%s; `falcon help %s` lists them", op.id, what, hint, op.id)
    end
    add(args, kw, f.value, what)
    words[kw.name] = what
  end
  if #positional > 0 then
    local key = op.positional
    if not key then
      usage("%s takes no positional values (got '%s'); name them as --parameter value", op.id, positional[1])
    end
    local kw = by_name[key] or { name = key, type = "array" }
    for _, word in ipairs(positional) do add(args, kw, word, key) end
    if kw.type ~= "array" and type(args[key]) == "table" then args[key] = args[key][1] end
    words[key] = words[key] or ("the " .. key .. " given")
  end
  return args, words
end

return M
