--- The URL and header parameters of a request: the query string (FalconPy's mapping: a list repeats
--- the key, `csv` joins with commas, `parameters=` is the whole query with explicit keywords winning),
--- path parameters and header parameters; and the quick path, which builds the common query-only call
--- with the same helpers and nothing else.
local json = require "falcon.json"
local check = require "falcon.payload.check"
local policy = require "falcon.base.policy"
local util = require "falcon.base.util"

local sorted_keys = util.sorted_keys

local fail, describe, huge = check.fail, check.describe, math.huge
local check_scalar, check_text, scalar_string = check.check_scalar, check.check_text, check.scalar_string

local M = {}

-- The docs type some query parameters differently from the operation tables (Message Center's `offset` is
-- "string" in the seed and in message-center.json, integer in the API's spec), and FalconPy sends whatever
-- it is given as its text. So a query parameter takes either spelling: a number for a string parameter, and
-- an integer written as a string for an integer parameter (bounds still apply). The wire gets the value's own
-- text, as FalconPy's: offset="10" and offset=10 both send offset=10. (add_query tells which spelling a
-- value is; these are the other spelling's checks.)
local function check_other_spelling(name, key, v, p)
  local t = p.type
  if type(v) == "number" then
    if v ~= v or v == huge or v == -huge then fail(name, key, "string or finite number expected, got " .. tostring(v)) end
    return
  end
  local n = v:match("^%-?%d+$") and tonumber(v)
  if t == "number" and not n then n = v:match("^%-?%d+%.?%d*$") and tonumber(v) end
  if not n then
    fail(name, key, describe(p) .. " (or its digits as a string) expected, got string " .. check.shown(v))
  end
  check_scalar(name, key, n, p)
end

--- Appends `key=value` pair(s) for one query value to `query` (errors name `argname`, default `key`: the
--- keyword the caller wrote, which may be FalconPy's spelling of the parameter).
local function add_query(name, query, key, v, p, argname)
  local arg = argname or key
  if type(v) == "table" and v ~= json.null then
    -- A list for a scalar parameter repeats the key (FalconPy); an empty one would silently vanish.
    if next(v) == nil and p.type and p.type ~= "array" and p.type ~= "any" then
      fail(name, arg, describe(p) .. " expected, got an empty table")
    end
    local list = check.as_list(name, arg, v, p)
    local texts = {}
    for i, x in ipairs(list) do texts[i] = type(x) == "string" and x or scalar_string(x) end
    check.check_texts(name, arg, texts)
    if p.collectionFormat == "csv" then
      query[#query + 1] = { key, table.concat(texts, ",") }
    else
      for _, s in ipairs(texts) do query[#query + 1] = { key, s } end
    end
  elseif p.type == "array" then
    -- one scalar (or a comma-separated string) for an array parameter
    return add_query(name, query, key, check.as_list(name, arg, v, p, type(v) == "string"), p, arg)
  else
    local t, tv = p.type, type(v)
    if (tv == "number" and t == "string" and not p.enum) or (tv == "string" and (t == "integer" or t == "number")) then
      check_other_spelling(name, arg, v, p)
    else
      check_scalar(name, arg, v, p)
    end
    if tv == "string" then
      check_text(name, arg, v)
      query[#query + 1] = { key, v }
    else
      query[#query + 1] = { key, scalar_string(v) } -- a number or boolean prints safely
    end
  end
end
M.add = add_query

--- A pass-through query value (an unknown `parameters=` key, an override's keyword): no spec to check.
function M.add_untyped(name, query, key, v)
  add_query(name, query, key, v, { type = type(v) == "table" and "array" or "any" })
end

---------------------------------------------------------------------------------------------
-- The quick path
---------------------------------------------------------------------------------------------

-- The common call, `query_cases{filter = ..., limit = 10}`: an operation whose only parameters are query
-- parameters, called with nothing but keywords for them. Per operation, the facts that make it so.
local function query_plan(op)
  local params, by_name = {}, {}
  for _, p in ipairs(op.params) do
    if p["in"] == "query" then
      params[#params + 1], by_name[p.name] = p, p
      if p.alias then by_name[p.alias] = p end
    elseif not (p["in"] == "header" and p.engine) then -- Authorization belongs to the engine
      return false
    end
  end
  if op.synthetic or op.body_keywords then return false end
  return { params = params, by_name = by_name, binary = op.produces and op.produces ~= "application/json" or nil,
           repeatable = policy.idempotent(op.method, op.route) }
end
local query_plans = util.per_record(query_plan)

--- That call built without the general stages' bookkeeping (same helpers, same parameter order, same
--- errors); nil when the call is anything else, and the general stages take it.
function M.quick(op, args, name)
  local plan = query_plans[op]
  local by_name, query = plan.by_name, {}
  for k in next, args do
    if by_name[k] == nil then return nil end
  end
  local params = plan.params
  for i = 1, #params do
    local p = params[i]
    local v, argname = args[p.name], nil
    if p.alias and args[p.alias] ~= nil then
      if v ~= nil then return nil end -- both spellings: the general stages say so
      v, argname = args[p.alias], p.alias
    end
    if v == nil then v = p.supplied end
    if v ~= nil then
      add_query(name, query, p.name, v, p, argname)
    elseif p.required then
      return nil -- the general stages name what is missing
    end
  end
  return { method = op.method, route = op.route, query = query, operation = op.id, binary = plan.binary,
           repeatable = plan.repeatable }
end

--- The quick path of `op` (falcon.payload), or nil when its calls always take the general stages.
function M.quick_for(op)
  return query_plans[op] and M.quick or nil
end

---------------------------------------------------------------------------------------------
-- The general stage
---------------------------------------------------------------------------------------------

-- parameters= : the whole query string, overridden by explicit keywords (sorted: a stable wire order).
local function add_parameters(ctx, parameters)
  local args, name, query = ctx.args, ctx.name, ctx.query
  if type(parameters) ~= "table" then fail(name, "parameters", "table expected, got " .. type(parameters)) end
  for k in pairs(parameters) do
    if type(k) ~= "string" then fail(name, "parameters", "string keys expected, got " .. type(k)) end
  end
  for _, k in ipairs(sorted_keys(parameters)) do
    local p = ctx.by_name[k]
    local explicit = p and p["in"] == "query" and (args[k] ~= nil or (p.alias and args[p.alias] ~= nil))
    if not explicit then
      if p and p["in"] == "query" then add_query(name, query, k, parameters[k], p)
      else M.add_untyped(name, query, k, parameters[k]) end
    end
  end
end

local function substitute(route, key, s)
  local segment = s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end) -- RFC 3986
  return (route:gsub("{" .. key:gsub("%p", "%%%0") .. "}", (segment:gsub("%%", "%%%%"))))
end

--- Query, path and header parameters of `ctx.args` into ctx.query, ctx.route and ctx.headers. A parameter
--- the call leaves out takes the value FalconPy supplies for it, if any (p.supplied; parameters= wins).
function M.stage(ctx)
  local args, name, parameters = ctx.args, ctx.name, ctx.args.parameters
  if parameters ~= nil then add_parameters(ctx, parameters) end
  for _, p in ipairs(ctx.op.params) do
    local where, key = p["in"], p.name
    local v, argname = check.given(name, args, p, ctx.used)
    local in_parameters = parameters and parameters[key] ~= nil
    if v == nil and not in_parameters then v = p.supplied end
    if where == "query" then
      if v ~= nil then
        add_query(name, ctx.query, key, v, p, argname)
      elseif p.required and not in_parameters then
        fail(name, key, describe(p) .. " expected, got nil")
      end
    elseif where == "path" then
      if v == nil then fail(name, key, describe(p) .. " expected, got nil") end
      local s = check.wire_text(name, argname, v, p)
      if s == "" then fail(name, argname, "non-empty " .. describe(p) .. " expected") end
      ctx.route = substitute(ctx.route, key, s)
    elseif where == "header" and not p.engine then -- Authorization belongs to the engine
      if v ~= nil then
        ctx.headers[key] = check.wire_text(name, argname, v, p)
      elseif p.required then
        fail(name, key, describe(p) .. " expected, got nil")
      end
    end
  end
end

return M
