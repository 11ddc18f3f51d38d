-- payload.build has a quick path for the common call (only scalar query keywords on an operation whose
-- parameters are all query parameters) and the general path for everything else. Over every operation
-- of the tables, the two must build the same request and raise the same error for the same input.
local endpoints = require "falcon.endpoints"
local payload = require "falcon.payload"

local function all_operations()
  local ops, seen = {}, {}
  local ids = {}
  for id in pairs(endpoints.operations) do ids[#ids + 1] = id end
  table.sort(ids)
  for _, id in ipairs(ids) do
    local op = endpoints.get(id)
    if op and not seen[op] then
      seen[op] = true
      ops[#ops + 1] = op
    end
  end
  return ops
end

-- A value of the parameter's type that passes its checks, and one that does not.
local function good_value(p)
  if p.type == "array" then return "a,b c" end -- one string for a list: split on commas
  if p.enum then return p.enum[1] end
  if p.type == "integer" then return p.min or 7 end
  if p.type == "number" then return (p.min or 0) + 0.5 end
  if p.type == "boolean" then return true end
  return "a b+c'é" -- what percent-encoding and the checks must both see
end

local function bad_value(p)
  if p.type == "integer" or p.type == "number" or p.type == "boolean" then return "not-a-" .. p.type end
  if p.type == "array" then return "a\r\nb" end
  return 12.5
end

local function outcome(build, op, args)
  local ok, result = pcall(build, op, args, op.id)
  if ok then return { request = result } end
  return { error = result }
end

describe("payload.build: the quick path and the general path", function()
  local ops = all_operations()

  it("covers every operation of the tables", function()
    assert.is_true(#ops >= 1500, "only " .. #ops .. " operations")
  end)

  it("build the same request, or raise the same error, for every operation", function()
    local compared, query_only = 0, 0
    for _, op in ipairs(ops) do
      local scalars, all_query = {}, true
      for _, p in ipairs(op.params) do
        if p["in"] == "query" then scalars[#scalars + 1] = p
        elseif not (p["in"] == "header" and p.engine) then all_query = false end
      end
      if all_query then query_only = query_only + 1 end
      local cases = { {} }
      local every = {}
      for _, p in ipairs(scalars) do
        every[p.name] = good_value(p)
        cases[#cases + 1] = { [p.name] = good_value(p) }
        cases[#cases + 1] = { [p.name] = bad_value(p) }
      end
      cases[#cases + 1] = every
      cases[#cases + 1] = { not_a_keyword = 1 }
      for _, args in ipairs(cases) do
        assert.same(outcome(payload.build_general, op, args), outcome(payload.build, op, args),
          op.id .. " with " .. require("cjson").encode(args))
        compared = compared + 1
      end
    end
    assert.is_true(query_only >= 300, "only " .. query_only .. " query-only operations")
    assert.is_true(compared > query_only)
  end)
end)
