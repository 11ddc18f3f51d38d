--- Value checks of the request builder: every keyword value is checked against its parameter's
--- spec before a request exists, and a bad one raises `falcon: <operation>: bad argument '<name>'
--- (<what>)` at level 0, so nothing is sent.
local errors = require "falcon.base.errors"
local json = require "falcon.json"
local is_list = require("falcon.base.util").is_list

local M = {}

local MAX_VALUE = 65536 -- longest single query/path/header/form value we agree to send

local fail = errors.bad_argument -- falcon: <name>: bad argument '<argname>' (<what>)
M.fail = fail

local floor, huge, format = math.floor, math.huge, string.format
local EXACT = 2 ^ 53 -- every integer below it in size is exact in a double

--- Integral numbers print without a fraction on both Lua 5.4 and LuaJIT.
local function scalar_string(v)
  if type(v) == "number" then
    if v == floor(v) and v > -EXACT and v < EXACT then return format("%d", v) end
    return format("%.17g", v)
  end
  return tostring(v)
end
M.scalar_string = scalar_string

--- A value that goes on the wire as text: not huge (looked at first: a huge value is refused without a
--- scan of it), no CR, LF or NUL (header injection).
local function check_text(name, argname, s)
  if #s > MAX_VALUE then fail(name, argname, "value longer than " .. MAX_VALUE .. " bytes") end
  if s:find("[\r\n%z]") then fail(name, argname, "value contains CR, LF or NUL") end
end
M.check_text = check_text

--- check_text for every text of a list (a list of ids), in one look at them all when they are short
--- together (an error names the argument either way, not the item).
function M.check_texts(name, argname, texts)
  local joined = table.concat(texts)
  if #joined <= MAX_VALUE then return check_text(name, argname, joined) end
  for _, s in ipairs(texts) do check_text(name, argname, s) end
end

--- A value as an error message shows it: controls escaped, long values cut.
local function shown(s)
  local cut = #s > 64 -- cut first: a huge value is not escaped in full to show 64 bytes of it
  if cut then s = s:sub(1, 64) end
  s = s:gsub("%c", function(c) return ("\\%d"):format(c:byte()) end)
  return "'" .. s .. (cut and "...'" or "'")
end
M.shown = shown

-- Multipart field names, file names and part content types are quoted inside part headers; the C
-- core refuses controls, quotes and backslashes there, so refuse them here, before any request.
function M.check_part_text(name, argname, s, what)
  check_text(name, argname, s)
  if s == "" or s:find('[%c"\\]') then
    fail(name, argname, what .. " without control characters, quotes or backslashes expected, got " .. shown(s))
  end
end

--- What a parameter expects, as error messages say it ("integer 1..500", "string or list of strings").
local function describe(p)
  local t = p.type or "value"
  if t == "integer" or t == "number" then
    if p.min and p.max then return string.format("%s %s..%s", t, scalar_string(p.min), scalar_string(p.max)) end
    if p.min then return string.format("%s >= %s", t, scalar_string(p.min)) end
    if p.max then return string.format("%s <= %s", t, scalar_string(p.max)) end
    return t
  end
  if t == "array" then
    local item = p.items or "string"
    return item .. " or list of " .. item .. "s"
  end
  return t
end
M.describe = describe

--- Checks one scalar against a parameter spec; returns it unchanged.
local function check_scalar(name, argname, v, p)
  local t, got = p.type, type(v)
  if t == "string" then
    if got == "number" and p.enum then
      -- a few spec entries list numbers as the values of a string parameter
      for _, allowed in ipairs(p.enum) do if allowed == v then return v end end
    end
    if got ~= "string" then fail(name, argname, describe(p) .. " expected, got " .. got) end
    if p.maxLength and #v > p.maxLength then
      fail(name, argname, "string of at most " .. p.maxLength .. " characters expected, got " .. #v)
    end
    if p.minLength and #v < p.minLength then
      fail(name, argname, "string of at least " .. p.minLength .. " characters expected, got " .. #v)
    end
  elseif t == "integer" or t == "number" then
    if got ~= "number" or v ~= v or (t == "integer" and not (v == floor(v) and v > -huge and v < huge)) then
      fail(name, argname, describe(p) .. " expected, got " .. (got == "number" and "non-integer number" or got))
    end
    if (p.min and v < p.min) or (p.max and v > p.max) then
      fail(name, argname, describe(p) .. " expected, got " .. scalar_string(v))
    end
  elseif t == "boolean" then
    if got ~= "boolean" then fail(name, argname, "boolean expected, got " .. got) end
  elseif t == "object" then
    if got ~= "table" then fail(name, argname, "table expected, got " .. got) end
  elseif got == "table" or got == "function" or got == "userdata" or got == "thread" or got == "nil" then
    fail(name, argname, "string, number or boolean expected, got " .. got)
  end
  return v
end
M.check_scalar = check_scalar

--- Normalises an array-typed value: a list, or one scalar, or (split) a comma-separated string.
function M.as_list(name, argname, v, p, split)
  local item = { type = p.items or (p.type ~= "array" and p.type) or "string", min = p.min, max = p.max }
  local list
  if type(v) == "table" and v ~= json.null then
    if not is_list(v) then fail(name, argname, describe(p) .. " expected, got table with non-list keys") end
    list = {}
    local strings = item.type == "string" -- an item spec has no length bounds and no enum: a type to check
    for i, x in ipairs(v) do
      if strings and type(x) == "string" then
        list[i] = x -- all check_scalar asks of it (the common list of ids, without a call per id)
      else
        if type(x) == "table" and item.type ~= "object" then
          fail(name, argname .. "[" .. i .. "]", item.type .. " expected, got table")
        end
        list[i] = check_scalar(name, argname .. "[" .. i .. "]", x, item)
      end
    end
  elseif type(v) == "string" and split then
    list = {}
    for part in v:gmatch("[^,]+") do
      part = part:match("^%s*(.-)%s*$")
      if part ~= "" then list[#list + 1] = part end
    end
  else
    if type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean" then
      fail(name, argname, describe(p) .. " expected, got " .. type(v))
    end
    list = { check_scalar(name, argname, v, item) }
  end
  if #list == 0 and p.required then fail(name, argname, describe(p) .. " expected, got an empty list") end
  return list
end

--- The value a call gives parameter p, and the keyword it came under: the parameter's name, or FalconPy's
--- spelling of it (p.alias: account_ids for account-ids, id for ID); both at once is refused. Marks it used.
function M.given(name, args, p, used)
  local v, key, alias = args[p.name], p.name, p.alias
  if alias and args[alias] ~= nil then
    if v ~= nil then fail(name, alias, "given twice: as '" .. p.name .. "' and as '" .. alias .. "'") end
    v, key = args[alias], alias
  end
  if v ~= nil and used then used[key] = true end
  return v, key
end

--- A scalar checked against its spec, as the text that goes on the wire.
function M.wire_text(name, argname, v, p)
  check_scalar(name, argname, v, p)
  local s = scalar_string(v)
  check_text(name, argname, s)
  return s
end

return M
