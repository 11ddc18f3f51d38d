--- Result objects: what service and Uber calls return with `pythonic = true`.
--
-- Fields: `status_code`, `headers`, `meta`, `errors`, `data` (the `resources`), and `raw` (the
-- whole body, set only when it is not the standard {meta, errors, resources} envelope).
-- FalconPy's members, computed on access: `total`, `offset`, `limit`, `after` (meta.pagination),
-- `query_time`, `powered_by`, `trace_id` (meta, else the X-Cs-Traceid header), `region` (X-Cs-Region),
-- `ratelimit_limit`, `ratelimit_remaining` (numbers; the smaller of two budgets), `binary`,
-- `full_return` (the default-mode table), `body`; and `result:tupled()` (status_code, headers, body:
-- Lua's tuple is several return values).
-- `for item in result do` walks `data` (FalconPy's `for x in result`) on Lua 5.4 and LuaJIT alike;
-- so does `for item, index in result:iter() do`. `#result` and `result[i]` reach into `data`, and
-- `ipairs(result)` works on Lua 5.4. LuaJIT ignores `__len` and `__index` for `#` and `ipairs` on
-- tables: there use `result:len()` and `ipairs(result.data)`.
local errors = require "falcon.base.errors"
local json = require "falcon.json"

local Result = {}
local methods = {}
local members = {}

local function is_list(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

Result.__name = "falcon.Result"

function Result.__index(self, key)
  local m = methods[key]
  if m then return m end
  if type(key) == "number" then
    local data = rawget(self, "data")
    return type(data) == "table" and data[key] or nil
  end
  local member = members[key]
  if member then return member(self) end
  return nil
end

--- Builds a Result from an engine response ({status_code, headers, body}).
-- @tparam table response
-- @treturn falcon.Result
function Result.new(response)
  local body = response.body
  local self = {
    status_code = response.status_code,
    headers = response.headers or {},
  }
  if type(body) == "table" and (body.resources ~= nil or body.meta ~= nil or body.errors ~= nil)
      and body.data == nil then
    self.meta = type(body.meta) == "table" and body.meta or {}
    self.errors = type(body.errors) == "table" and body.errors or json.array()
    local resources = body.resources
    if resources == nil or resources == json.null then resources = json.array() end
    self.data = resources
  else
    self.meta = {}
    self.errors = json.array()
    self.data = json.array()
    self.raw = body
  end
  return setmetatable(self, Result)
end

--- True when `x` is a Result.
function Result.is(x)
  return type(x) == "table" and getmetatable(x) == Result
end

--- Number of items in `data` (a list's length, or a map's key count). Use on LuaJIT.
function methods.len(self)
  local data = rawget(self, "data")
  if type(data) ~= "table" then return 0 end
  if is_list(data) then return #data end
  local n = 0
  for _ in pairs(data) do n = n + 1 end
  return n
end

Result.__len = methods.len

--- Iterator over the items of `data`: `for item, index in result:iter() do ... end`.
-- For a map-shaped `data` the iterator gives value, key.
function methods.iter(self)
  local data = rawget(self, "data")
  if type(data) ~= "table" then return function() return nil end end
  if is_list(data) then
    local i = 0
    return function()
      i = i + 1
      local v = data[i]
      if v ~= nil then return v, i end
    end
  end
  local k
  return function()
    local v
    k, v = next(data, k)
    if k ~= nil then return v, k end
  end
end

local function contains(value, needle, depth)
  if type(value) == "string" then return value:find(needle, 1, true) ~= nil end
  if type(value) == "number" then return tostring(value):find(needle, 1, true) ~= nil end
  if type(value) == "table" and depth < 8 then
    for k, v in pairs(value) do
      if contains(v, needle, depth + 1) or (type(k) == "string" and k:find(needle, 1, true)) then return true end
    end
  end
  return false
end

--- Items of `data` containing `substring` (in a string item, or anywhere inside a table item).
-- @tparam string substring plain text, not a pattern
-- @treturn table list of matching items
function methods.prune(self, substring)
  if type(substring) ~= "string" then
    errors.bad_argument("Result:prune", "substring", "string expected, got " .. type(substring))
  end
  local out = json.array()
  for item in methods.iter(self) do
    if contains(item, substring, 0) then out[#out + 1] = item end
  end
  return out
end

---------------------------------------------------------------------------------------------
-- FalconPy's Result members
---------------------------------------------------------------------------------------------

local function meta_field(key)
  return function(self)
    local meta = rawget(self, "meta")
    local v = type(meta) == "table" and meta[key]
    if v == json.null then return nil end
    return v or nil
  end
end

local function pagination_field(key)
  return function(self)
    local meta = rawget(self, "meta")
    local p = type(meta) == "table" and meta.pagination
    local v = type(p) == "table" and p[key]
    if v == json.null then return nil end
    return v or nil
  end
end

local function header(self, name)
  local h = rawget(self, "headers") or {}
  return h[name] or h[name:lower()]
end

-- "5980, 5995" (GraphQL) reports two budgets: the smaller runs out first.
local function header_number(name)
  return function(self)
    local v = header(self, name)
    if v == nil then return nil end
    local low
    for n in tostring(v):gmatch("%d+") do n = tonumber(n); low = low and math.min(low, n) or n end
    return low
  end
end

members.total = pagination_field("total")
members.offset = pagination_field("offset")
members.limit = pagination_field("limit")
members.after = pagination_field("after")
members.query_time = meta_field("query_time")
members.powered_by = meta_field("powered_by")
members.region = function(self) return header(self, "X-Cs-Region") end
members.ratelimit_limit = header_number("X-Ratelimit-Limit")
members.ratelimit_remaining = header_number("X-Ratelimit-Remaining")

--- The trace id of the call (meta.trace_id or the X-Cs-Traceid header).
function members.trace_id(self)
  return meta_field("trace_id")(self) or header(self, "X-Cs-Traceid")
end

--- True when the body was not JSON (bytes, or text the API sent as something else).
function members.binary(self)
  return type(rawget(self, "raw")) == "string"
end

--- The body as the API sent it: {meta, errors, resources}, or the raw body.
function members.body(self)
  local raw = rawget(self, "raw")
  if raw ~= nil then return raw end
  return { meta = rawget(self, "meta"), errors = rawget(self, "errors"), resources = rawget(self, "data") }
end

--- What the call would have returned without `pythonic`: {status_code, headers, body}.
function members.full_return(self)
  return { status_code = rawget(self, "status_code"), headers = rawget(self, "headers"), body = members.body(self) }
end

--- FalconPy's `tupled` (status_code, headers, body), as three return values.
function methods.tupled(self)
  return rawget(self, "status_code"), rawget(self, "headers"), members.body(self)
end

-- `for item in result do`: the generic for calls the Result with the item it gave last. The position is
-- kept per Result and checked against that item (found again by search if another loop moved it), so a
-- loop broken off and started again begins at the first item.
local cursors = setmetatable({}, { __mode = "k" })
function Result.__call(self, _, previous)
  local data = rawget(self, "data")
  if type(data) ~= "table" then return nil end
  local i = 0
  if previous ~= nil then
    i = cursors[self] or 0
    if data[i] ~= previous then
      i = 0
      for j = 1, #data do if data[j] == previous then i = j; break end end
      if i == 0 then return nil end
    end
  end
  i = i + 1
  cursors[self] = i
  return data[i]
end

function Result.__tostring(self)
  local shown = rawget(self, "raw") or rawget(self, "data")
  local ok, text = pcall(json.encode, shown)
  if not ok then text = tostring(shown) end
  if #text > 400 then text = text:sub(1, 400) .. "..." end
  local kind = rawget(self, "raw") ~= nil and "raw" or (methods.len(self) .. " items")
  local trace = members.trace_id(self)
  return string.format("falcon.Result(status_code=%s, %s%s): %s", tostring(rawget(self, "status_code")), kind,
    trace and (", trace_id=" .. tostring(trace)) or "", text)
end

return Result
