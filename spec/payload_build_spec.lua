-- payload.build over every operation of the tables: a good value of each query parameter lands in
-- the query, a bad one or an unknown keyword raises an error naming an argument, and nothing else
-- (no Lua error from inside the builder) ever comes out.
local endpoints = require "falcon.endpoints"
local payload = require "falcon.payload"

local function all_operations()
  local ops, seen, ids = {}, {}, {}
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
  if p.type == "array" then -- one string for a list: split on commas
    if p.items == "integer" or p.items == "number" then return { 1, 2 } end
    if p.items == "boolean" then return { true } end
    return "a,b c"
  end
  if p.enum then return p.enum[1] end
  if p.type == "integer" then return p.min or 7 end
  if p.type == "number" then return (p.min or 0) + 0.5 end
  if p.type == "boolean" then return true end
  local text = "a b+c'é" -- what percent-encoding and the checks must both see
  if (p.maxLength and #text > p.maxLength) or (p.minLength and #text < p.minLength) then
    return string.rep("a", p.minLength or 1)
  end
  return text
end

local function bad_value(p)
  if p.type == "integer" or p.type == "number" or p.type == "boolean" then return "not-a-" .. p.type end
  return "a\r\nb" -- header injection: refused for strings and lists alike
end

local function outcome(op, args)
  local ok, result = pcall(payload.build, op, args, op.id)
  if ok then return result end
  return nil, result
end

-- A raise from the builder names the operation and an argument, in the one error shape.
local function assert_argument_error(op, err, argname)
  assert.is_string(err, op.id)
  local prefix = "falcon: " .. op.id .. ": bad argument '"
  assert.equal(prefix, err:sub(1, #prefix), err)
  if argname then -- the argument, or an item of it: 'ids' or 'ids[2]'
    local named = err:sub(#prefix + 1, #prefix + #argname + 1)
    assert.truthy(named == argname .. "'" or named == argname .. "[", op.id .. ": " .. err)
  end
end

describe("payload.build over every operation", function()
  local ops, refused = {}, {}
  for _, op in ipairs(all_operations()) do table.insert(op.refused and refused or ops, op) end

  it("refuses the token operations, pointing to login() and logout()", function()
    assert.equal(2, #refused)
    for _, op in ipairs(refused) do
      local request, err = outcome(op, {})
      assert.is_nil(request)
      assert.truthy(err:find("^falcon: " .. op.id .. ": ") and (err:find("login()", 1, true) or err:find("logout()", 1, true)), err)
    end
  end)

  it("covers every operation of the tables", function()
    assert.is_true(#ops >= 1500, "only " .. #ops .. " operations")
  end)

  it("builds the request or raises naming an argument, for good, bad and unknown keywords", function()
    local query_only, built = 0, 0
    for _, op in ipairs(ops) do
      local scalars, all_query, required = {}, true, false
      for _, p in ipairs(op.params) do
        if p["in"] == "query" then scalars[#scalars + 1] = p
        elseif not (p["in"] == "header" and p.engine) then all_query = false end
        if p.required and not p.engine then required = true end
      end
      local every = {}
      for _, p in ipairs(scalars) do every[p.name] = good_value(p) end
      local request, err = outcome(op, every)
      if all_query then
        query_only = query_only + 1
        -- every parameter given a good value: the request, with each one in the query
        assert.is_table(request, op.id .. ": " .. tostring(err))
        assert.equal(op.method, request.method)
        assert.equal(op.route, request.route)
        assert.equal(op.id, request.operation)
        local keys = {}
        for _, pair in ipairs(request.query) do keys[pair[1]] = true end
        for _, p in ipairs(scalars) do assert.is_true(keys[p.name], op.id .. " lost " .. p.name) end
        built = built + 1
      elseif request then
        assert.equal(op.id, request.operation)
      else
        assert_argument_error(op, err)
      end
      for _, p in ipairs(scalars) do
        local args = {}
        for k, v in pairs(every) do args[k] = v end
        args[p.name] = bad_value(p)
        local bad, why = outcome(op, args)
        assert.is_nil(bad, op.id .. " took " .. p.name .. " = " .. tostring(args[p.name]))
        assert_argument_error(op, why, (all_query or not required) and p.name or nil)
      end
      local unknown, why = outcome(op, { not_a_keyword = 1 })
      assert.is_nil(unknown, op.id .. " took not_a_keyword")
      assert_argument_error(op, why)
    end
    assert.is_true(query_only >= 300, "only " .. query_only .. " query-only operations")
    assert.equal(query_only, built)
  end)
end)
