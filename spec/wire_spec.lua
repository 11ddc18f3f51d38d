-- Every operation of the tables, in both styles (service method under FalconPy's name and keywords, Uber
-- command with the swagger's names), with arguments of every location and type, against a server that
-- records each request as it arrived (spec/helpers/wire_recorder.c): each request is checked against the
-- rules the swagger states (spec/helpers/wire_rules.lua). One kept-alive connection, no process per call.
local falcon = require "falcon"
local endpoints = require "falcon.endpoints"
local emulator = require "spec.helpers.emulator"
local wire = require "spec.helpers.wire"
local rules = require "spec.helpers.wire_rules"

local SHOWN = 12 -- failures listed in a message

-- One call and the request(s) it made, checked: { problems } (empty when right).
local function checked(recorder, expected, call)
  local ok, err = pcall(call)
  local got = recorder:take()
  if expected.refused then
    if ok then return { "not refused" } end
    if #got > 0 then return { "refused, but " .. #got .. " request(s) sent" } end
    return {}
  end
  if not ok then return { "raised: " .. tostring(err) } end
  if #got ~= 1 then return { #got .. " requests sent" } end
  return rules.check(expected, got[1])
end

-- Runs `each(item) -> problems` over a list; returns the count right and a message listing what was not.
local function sweep(list, label, each)
  local right, failures = 0, {}
  for _, item in ipairs(list) do
    local problems = each(item)
    if #problems == 0 then
      right = right + 1
    elseif #failures < SHOWN then
      failures[#failures + 1] = "  " .. label(item) .. ": " .. table.concat(problems, "; ")
    end
  end
  return right, ("%d of %d right; first failures:\n%s"):format(right, #list, table.concat(failures, "\n"))
end

describe("the wire of every operation", function()
  local recorder, dir, file_path, client
  local objects = {}

  -- One client for every object: one token, one kept-alive connection.
  local function object(class)
    client = client or falcon.Client.new { access_token = rules.TOKEN, base_url = recorder.url, max_retries = 0 }
    objects[class] = objects[class] or falcon[class] { auth_object = client }
    return objects[class]
  end

  setup(function()
    recorder = wire.start()
    dir = emulator.run("mktemp -d \"${TMPDIR:-/tmp}/falconlua-wirefile.XXXXXX\""):gsub("%s+$", "")
    file_path = dir .. "/" .. rules.FILE_NAME
    local f = assert(io.open(file_path, "wb"))
    f:write(rules.FILE_BYTES)
    f:close()
  end)

  teardown(function()
    if recorder then recorder:stop() end
    if dir then emulator.run("rm -rf " .. emulator.quote(dir)) end
  end)

  it("service classes: every operation under FalconPy's method name, every parameter in FalconPy's spelling", function()
    local list = rules.operations()
    assert.is_true(#list > 1700, "operations: " .. #list)
    local right, message = sweep(list, function(item) return item.class .. "." .. item.method end, function(item)
      local values = rules.values(item.op, "all")
      local obj = object(item.class)
      return checked(recorder, rules.expect(item.op, values), function()
        return obj[item.method](obj, rules.service_args(item.op, values))
      end)
    end)
    assert.equal(#list, right, message)
  end)

  it("the Uber class: every Operation ID, query in parameters, form in data and files, bytes in data", function()
    local list = rules.uber_operations()
    local uber = falcon.APIHarnessV2 { auth_object = object("MessageCenter") }
    local right, message = sweep(list, function(item) return item.id end, function(item)
      local values = rules.values(item.op, "all")
      return checked(recorder, rules.expect(item.op, values), function()
        return uber:command(item.id, rules.uber_args(item.op, values))
      end)
    end)
    assert.equal(#list, right, message)
  end)

  it("only what the API requires of the caller: FalconPy's values supplied, files and bytes streamed from disk", function()
    local list = rules.operations()
    local right, message = sweep(list, function(item) return item.class .. "." .. item.method end, function(item)
      local values = rules.values(item.op, "required")
      local obj = object(item.class)
      return checked(recorder, rules.expect(item.op, values, file_path), function()
        return obj[item.method](obj, rules.service_args(item.op, values, file_path))
      end)
    end)
    assert.equal(#list, right, message)
  end)
end)
