-- payload.build over every operation of the tables: a good value of each query parameter lands in
-- the query, a bad one or an unknown keyword raises an error naming an argument, and nothing else
-- (no Lua error from inside the builder) ever comes out. And the quick path the call layer asks first
-- (payload.quick) is the same rules: for every operation and every shape of call, it builds what build
-- builds, raises what build raises, or declines.
local endpoints = require "falcon.endpoints"
local json = require "falcon.json"
local payload = require "falcon.payload"
-- Locals: inside a spec every global is looked up through busted's environment chain, and this sweep
-- makes some hundred thousand calls.
local pairs, ipairs, pcall, type, error, tostring = pairs, ipairs, pcall, type, error, tostring

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

  -- Values of every kind a caller may give a parameter: good, bad, the docs' other spellings, lists.
  local function candidates(p)
    local list = { good_value(p), bad_value(p), json.null, {}, { good_value(p) }, true, "", "7", 7, 7.5, -1,
                   "a,b , c", { "a", "b" }, { 1, 2 }, { "a", {} }, { x = 1 }, string.rep("a", 70000), "a\0b" }
    if p.enum then list[#list + 1] = p.enum[#p.enum] end
    if p.min then list[#list + 1] = p.min - 1; list[#list + 1] = tostring(p.min) end
    if p.max then list[#list + 1] = p.max + 1; list[#list + 1] = tostring(p.max) end
    if p.maxLength then list[#list + 1] = string.rep("b", p.maxLength + 1) end
    return list
  end

  -- The quick path's answer for one call against build's: equal requests, equal errors, or a decline.
  -- Tens of thousands of comparisons: luassert is called (and its message made) only for a mismatch.
  local function same(a, b)
    if a == b then return true end
    if type(a) ~= "table" or type(b) ~= "table" then return false end
    for k, v in pairs(a) do if not same(v, b[k]) then return false end end
    for k in pairs(b) do if a[k] == nil then return false end end
    return true
  end

  local function agree(op, args, counts)
    local quick = payload.quick[op]
    local ok, request = pcall(quick, op, args, op.id)
    if ok and request == nil then counts.declined = counts.declined + 1; return end
    local built_ok, built = pcall(payload.build, op, args, op.id)
    if ok then
      if not built_ok then error(op.id .. ": quick built what build refuses: " .. tostring(built)) end
      if not same(built, request) then assert.same(built, request, op.id) end
      counts.built = counts.built + 1
    else
      if built_ok then error(op.id .. ": quick refused what build builds: " .. tostring(request)) end
      if built ~= request then assert.equal(built, request, op.id) end
      counts.refused = counts.refused + 1
    end
  end

  it("the quick path builds what build builds, or raises what it raises, or declines", function()
    local counts, ops_with = { built = 0, refused = 0, declined = 0 }, 0
    for _, op in ipairs(ops) do
      if payload.quick[op] then
        ops_with = ops_with + 1
        local every = {}
        for _, p in ipairs(op.params) do
          if p["in"] == "query" then every[p.name] = good_value(p) end
        end
        local required = {}
        for _, p in ipairs(op.params) do
          if p["in"] == "query" and p.required then required[p.name] = good_value(p) end
        end
        agree(op, {}, counts)
        agree(op, every, counts)
        agree(op, required, counts) -- the others left out: the values FalconPy supplies for them
        agree(op, { not_a_keyword = 1 }, counts)
        agree(op, { expand_result = true }, counts)
        for _, p in ipairs(op.params) do
          local keys = p["in"] == "body" and { "ids" } or { p.name, p.alias }
          local spec = p["in"] == "body" and { type = "array", items = "string" } or p
          for _, key in ipairs(keys) do
            for _, v in ipairs(candidates(spec)) do
              local alone, with_all = { [key] = v }, {}
              for k, x in pairs(every) do with_all[k] = x end
              with_all[key] = v
              local with_required = {}
              for k, x in pairs(required) do with_required[k] = x end
              with_required[key] = v
              agree(op, alone, counts)
              agree(op, with_all, counts)
              agree(op, with_required, counts)
            end
          end
          if p.alias then agree(op, { [p.name] = good_value(p), [p.alias] = good_value(p) }, counts) end
        end
        agree(op, { ids = { "a" }, not_a_keyword = 1 }, counts)
      end
    end
    -- the quick path is not a path no call takes: it covers the query operations and the lookups
    assert.is_true(ops_with >= 400, "only " .. ops_with .. " operations have a quick path")
    assert.is_true(counts.built >= 5000 and counts.refused >= 5000,
      ("quick built %d, refused %d, declined %d"):format(counts.built, counts.refused, counts.declined))
  end)
end)
