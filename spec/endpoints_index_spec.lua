-- lua/falcon/endpoints/INDEX.md, the readable index of operation names: current (what
-- tools/gen_endpoints.lua writes from the committed tables) and true (every name it lists is one the
-- service class answers to, for that operation).
local emulator = require "spec.helpers.emulator"
local endpoints = require "falcon.endpoints"
local service = require "falcon.classes.service"

local INDEX = "lua/falcon/endpoints/INDEX.md"

describe("lua/falcon/endpoints/INDEX.md", function()
  it("is what tools/gen_endpoints.lua --index writes now", function()
    local dir = os.tmpname()
    os.remove(dir)
    local out, code = emulator.run("lua5.4 tools/gen_endpoints.lua --index " .. emulator.quote(dir) .. " 2>&1")
    assert.equal(0, code, out)
    local fresh = emulator.read_file(dir .. "/INDEX.md")
    emulator.run("rm -rf " .. emulator.quote(dir))
    assert.is_true(fresh == emulator.read_file(INDEX), INDEX .. " is stale: run `lua5.4 tools/gen_endpoints.lua`")
  end)

  it("lists every operation, each name resolving on its service classes to that operation, and its keywords", function()
    local rows, seen = 0, {}
    for line in emulator.read_file(INDEX):gmatch("[^\n]+") do
      local id, names, keywords, cname, classes, route =
        line:match("^| ([^|]+) | ([^|]*) | ([^|]*) | ([%w_]+) | ([^|]+) | `([^`]+)` |$")
      if id then
        rows = rows + 1
        seen[id] = true
        local coll = endpoints.collection(cname)
        local op = coll.by_id[id]
        assert.is_table(op, id)
        assert.equal(op.method .. " " .. op.route, route)
        if classes ~= "(Uber class only)" then
          for class in classes:gmatch("[%w]+") do
            assert.is_table(service.class(class), class)
            assert.equal(op, endpoints.class_view(class).by_id[id], class .. " lacks " .. id)
          end
        end
        for name in names:gmatch("`([^`]+)`") do
          assert.equal(op, coll.by_name[name], name .. " does not name " .. id)
        end
        -- every parameter under its name and FalconPy's spelling, nothing the builder would refuse
        local listed = {}
        for kw in keywords:gmatch("`([^`]+)`") do listed[kw] = true end
        for _, p in ipairs(op.params) do
          if not p.engine and p["in"] ~= "body" and p.type ~= "file" and not op.refused then
            assert.is_true(listed[p.name], id .. ": " .. p.name)
            if p.alias then assert.is_true(listed[p.alias], id .. ": " .. p.alias) end
          end
        end
      end
    end
    for id in pairs(endpoints.operations) do assert.is_true(seen[id], id .. " missing") end
    assert.is_true(rows >= endpoints.unique_count)
  end)

  it("finds query_cases with grep", function()
    local row = emulator.read_file(INDEX):match("\n(| QueryCasesIdsByFilter |[^\n]+)")
    assert.truthy(row and row:find("`query_cases`", 1, true), row)
    assert.truthy(row:find("| message_center | MessageCenter |", 1, true), row)
    local aws = emulator.read_file(INDEX):match("\n(| cloud_registration_aws_trigger_health_check |[^\n]+)")
    assert.truthy(aws and aws:find("`account-ids` or `account_ids`", 1, true), aws)
  end)
end)
