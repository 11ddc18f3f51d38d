--- Result objects: what service and Uber calls return with `pythonic = true`.
--
-- Fields: `status_code`, `headers`, `meta`, `errors`, `data` (the `resources`), and `raw` (the
-- whole body, set only when it is not the standard {meta, errors, resources} envelope).
-- `#result` and `result[i]` reach into `data`; `for item in result:iter()` walks it;
-- `ipairs(result)` works on Lua 5.4. LuaJIT ignores `__len` and `__index` for `#` and `ipairs`
-- on tables: there use `result:len()` and `ipairs(result.data)`.
local json = require "falcon.json"

local Result = {}
local methods = {}

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
    error("falcon: Result:prune: bad argument 'substring' (string expected, got " .. type(substring) .. ")", 2)
  end
  local out = json.array()
  for item in methods.iter(self) do
    if contains(item, substring, 0) then out[#out + 1] = item end
  end
  return out
end

--- The trace id of the call (meta.trace_id or the X-Cs-Traceid header).
function methods.trace_id(self)
  local meta = rawget(self, "meta") or {}
  local h = rawget(self, "headers") or {}
  return meta.trace_id or h["X-Cs-Traceid"] or h["x-cs-traceid"]
end

function Result.__tostring(self)
  local shown = rawget(self, "raw") or rawget(self, "data")
  local ok, text = pcall(json.encode, shown)
  if not ok then text = tostring(shown) end
  if #text > 400 then text = text:sub(1, 400) .. "..." end
  local kind = rawget(self, "raw") ~= nil and "raw" or (methods.len(self) .. " items")
  local trace = methods.trace_id(self)
  return string.format("falcon.Result(status_code=%s, %s%s): %s", tostring(rawget(self, "status_code")), kind,
    trace and (", trace_id=" .. tostring(trace)) or "", text)
end

return Result
