-- luacheck: no max line length
-- Result mode (pythonic = true): Result objects, and falcon.APIError for API and transport errors.
local api = require "spec.helpers.api"
local falcon = require "falcon"
local Result = require "falcon.base.result"
local APIError = require "falcon.base.errors"

local is54 = _VERSION == "Lua 5.4" and not rawget(_G, "jit")

describe("Result objects (unit)", function()
  local response = {
    status_code = 200, headers = { ["X-Cs-Traceid"] = "t-1" },
    body = { meta = { trace_id = "t-1", query_time = 0.1 }, errors = {}, resources = { "1a2b3c", "ffff", "xx1a2b" } },
  }

  it("exposes status_code, headers, meta, errors, data, and no raw for an envelope", function()
    local r = Result.new(response)
    assert.equal(200, r.status_code)
    assert.equal("t-1", r.headers["X-Cs-Traceid"])
    assert.equal("t-1", r.meta.trace_id)
    assert.same({}, r.errors)
    assert.same({ "1a2b3c", "ffff", "xx1a2b" }, r.data)
    assert.is_nil(r.raw)
    assert.is_true(Result.is(r))
  end)

  it("has a length, indexing, iter(), and ipairs on Lua 5.4", function()
    local r = Result.new(response)
    assert.equal(3, r:len())
    if is54 then assert.equal(3, #r) end
    assert.equal("ffff", r[2])
    local seen = {}
    for item, i in r:iter() do seen[i] = item end
    assert.same(r.data, seen)
    if is54 then
      local via = {}
      for i, item in ipairs(r) do via[i] = item end
      assert.same(r.data, via)
    end
  end)

  it("prune keeps the items containing a substring (plain text)", function()
    local r = Result.new(response)
    assert.same({ "1a2b3c", "xx1a2b" }, r:prune("1a2b"))
    assert.same({}, r:prune("%w"))
    local dicts = Result.new { status_code = 200, headers = {},
      body = { meta = {}, errors = {}, resources = { { hostname = "web-1" }, { hostname = "db-1" } } } }
    assert.same({ { hostname = "db-1" } }, dicts:prune("db"))
    assert.has_error(function() r:prune(5) end, "falcon: Result:prune: bad argument 'substring' (string expected, got number)")
  end)

  it("iterates map-shaped resources as value, key", function()
    local r = Result.new { status_code = 200, headers = {}, body = { meta = {}, errors = {}, resources = { a = 1, b = 2 } } }
    assert.equal(2, r:len())
    local got = {}
    for v, k in r:iter() do got[k] = v end
    assert.same({ a = 1, b = 2 }, got)
  end)

  it("keeps a body it cannot model in raw", function()
    local body = { data = { entities = { nodes = {} } }, extensions = { runTime = 1 } }
    local r = Result.new { status_code = 200, headers = {}, body = body }
    assert.equal(body, r.raw)
    assert.equal(0, r:len())
    assert.truthy(tostring(r):find("raw", 1, true))
  end)

  it("has a readable tostring", function()
    local text = tostring(Result.new(response))
    assert.truthy(text:find("status_code=200", 1, true))
    assert.truthy(text:find("3 items", 1, true))
    assert.truthy(text:find("trace_id=t-1", 1, true))
    assert.truthy(text:find('"ffff"', 1, true))
  end)
end)

describe("APIError (unit)", function()
  it("is built from an error response", function()
    local e = APIError.from_response({ status_code = 404, headers = {},
      body = { meta = { trace_id = "tr" }, errors = { { code = 404, message = "not found" } } } }, "GetX")
    assert.is_true(APIError.is(e))
    assert.is_false(APIError.is({}))
    assert.equal(404, e.status_code)
    assert.equal(404, e.code)
    assert.equal("not found", e.message)
    assert.equal("tr", e.trace_id)
    assert.equal("falcon.APIError GetX: [404] not found (trace_id tr)", tostring(e))
  end)
end)

describe("Result mode (against the emulator)", function()
  local e, mc, uber

  setup(function()
    e = api.start()
    mc = falcon.MessageCenter(api.opts(e, { pythonic = true }))
    uber = falcon.APIHarnessV2(api.opts(e, { pythonic = true }))
  end)

  teardown(function()
    if e then e:stop() end
  end)

  it("returns Result objects from service and Uber calls", function()
    local r = mc:query_cases{ limit = 4 }
    assert.is_true(Result.is(r))
    assert.equal(200, r.status_code)
    assert.equal(4, r:len())
    assert.equal(4, r.meta.pagination.limit)
    local details = mc:get_cases(r.data)
    assert.equal(4, details:len())
    for case in details:iter() do assert.is_string(case.id) end
    local u = uber:command("QueryCasesIdsByFilter", { limit = 2 })
    assert.is_true(Result.is(u))
    assert.equal(2, u:len())
  end)

  it("raises falcon.APIError for API errors, catchable with pcall", function()
    local ok, err = pcall(mc.query_activities, mc, { case_id = "no-such-case" })
    if ok then
      -- the emulator may answer an unknown case with an empty list; force a 4xx instead
      ok, err = pcall(mc.download_case_attachment, mc, "no-such-attachment")
    end
    assert.is_false(ok)
    assert.is_true(falcon.APIError.is(err))
    assert.is_true(err.status_code >= 400)
    assert.is_string(err.message)
    assert.is_table(err.errors)
    assert.truthy(tostring(err):find("falcon.APIError", 1, true))
  end)

  it("raises falcon.APIError for transport failures", function()
    local dead = falcon.MessageCenter{ client_id = "a", client_secret = "b", base_url = "http://127.0.0.1:9",
      pythonic = true, timeout = 5 }
    local ok, err = pcall(dead.query_cases, dead, { limit = 1 })
    assert.is_false(ok)
    assert.is_true(falcon.APIError.is(err))
    assert.equal("transport", err.kind)
    assert.equal(500, err.status_code)
  end)

  it("returns bytes for downloads", function()
    local plain = falcon.MessageCenter(api.opts(e))
    local case_id = plain:query_cases{ limit = 1 }.body.resources[1]
    local user = plain:get_cases(case_id).body.resources[1].assigner.uuid
    local up = mc:add_case_attachment{ case_id = case_id, user_uuid = user, file_data = "abc", file_name = "a.txt" }
    assert.equal("abc", mc:download_case_attachment(up.data[1].id))
  end)

  it("still raises programmer errors as plain errors before sending", function()
    local err = api.rejects(e, "bad argument 'limit'", function() mc:query_cases{ limit = "x" } end)
    assert.is_false(falcon.APIError.is(err))
  end)
end)
