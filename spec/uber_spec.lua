-- luacheck: no max line length
-- The Uber class: command forms, override, multipart, unknown actions, and every one of the
-- spec's operations sent through both the Uber class and its service class, landing the same
-- request on the wire.
local api = require "spec.helpers.api"
local falcon = require "falcon"
local endpoints = require "falcon.endpoints"
local uber_module = require "falcon.classes.uber"

describe("Uber class (against the emulator)", function()
  local e, uber

  setup(function()
    e = api.start()
    uber = falcon.APIHarnessV2(api.opts(e))
  end)

  teardown(function()
    if e then e:stop() end
  end)

  before_each(function() e:clear_log() end)

  it("APIHarness is the same class as APIHarnessV2", function()
    assert.equal(falcon.APIHarnessV2, falcon.APIHarness)
    local old = falcon.APIHarness(api.opts(e))
    assert.equal(200, old:command("QueryCasesIdsByFilter", { limit = 1 }).status_code)
  end)

  it("takes command(action, keywords) and command{action = ..., ...}", function()
    local a = uber:command("QueryCasesIdsByFilter", { limit = 2, sort = "case.id.asc" })
    local b = uber:command{ action = "QueryCasesIdsByFilter", limit = 2, sort = "case.id.asc" }
    assert.equal(200, a.status_code)
    assert.same(a.body.resources, b.body.resources)
    local calls = api.calls(e)
    assert.equal(2, #calls)
    assert.same(api.sorted_query(calls[1]), api.sorted_query(calls[2]))
  end)

  it("takes positional ids like the service class", function()
    local ids = uber:command("QueryCasesIdsByFilter", { limit = 2 }).body.resources
    local r = uber:command("GetCaseEntitiesByIDs", ids)
    assert.equal(200, r.status_code)
    assert.same({ ids = ids }, api.body(api.last(e)))
  end)

  it("override calls a route the table lacks (or any route) with parameters/body/headers", function()
    local r = uber:command{ override = "GET,/message-center/queries/cases/v1", parameters = { limit = 1 } }
    assert.equal(200, r.status_code)
    local req = api.last(e)
    assert.equal("GET", req.method)
    assert.equal("/message-center/queries/cases/v1", req.path)
    assert.same({ { "limit", "1" } }, api.query(req))

    uber:command{ override = "post,/not-in-the-table/v1", body = { x = falcon.json.array() }, headers = { ["X-Extra"] = "1" } }
    req = api.last(e)
    assert.equal("POST", req.method)
    assert.equal("/not-in-the-table/v1", req.path)
    assert.equal('{"x":[]}', req.body)
    assert.equal("1", api.header(req, "x-extra"))
  end)

  it("content_type sets the request's Content-Type (not for multipart, which needs its boundary)", function()
    uber:command{ override = "POST,/x/v1", body = { a = 1 }, content_type = "application/json; charset=utf-8" }
    assert.equal("application/json; charset=utf-8", api.header(api.last(e), "content-type"))
  end)

  it("turns its forms into service keywords: data fields the operation names become those keywords", function()
    local op = endpoints.get("CaseAddAttachment")
    local args = { data = { case_id = "c1", user_uuid = "u1", note = "n" }, headers = { ["X-A"] = 1 },
                   content_type = "text/plain", file_data = "bytes", file_name = "a.txt" }
    local kw, extra = uber_module.keywords(op, args, op.id)
    assert.same({ case_id = "c1", user_uuid = "u1", file_data = "bytes", file_name = "a.txt" }, kw)
    assert.same({ { name = "note", value = "n" } }, extra.form)
    assert.same({ ["X-A"] = "1" }, extra.headers)
    assert.equal("text/plain", extra.content_type)
    assert.is_table(args.data, "the caller's table is left as it was")
    -- a call with none of the forms is passed on as it is, to the builder's quick path
    local plain = { limit = 1 }
    local same, none = uber_module.keywords(endpoints.get("QueryCasesIdsByFilter"), plain, "QueryCasesIdsByFilter")
    assert.equal(plain, same)
    assert.is_nil(none)
  end)

  it("its forms are not keywords of a service method (raised, nothing sent), but a service override takes them", function()
    local mc = falcon.MessageCenter(api.opts(e))
    mc:query_cases{ limit = 1 } -- the token, so that only the refused calls could reach the log
    e:clear_log()
    for _, form in ipairs({ "files", "headers", "content_type" }) do
      local ok, err = pcall(mc.query_cases, mc, { [form] = form == "files" and {} or (form == "headers" and {} or "x") })
      assert.is_false(ok)
      assert.truthy(tostring(err):find("bad argument '" .. form .. "' (unknown keyword", 1, true), err)
    end
    assert.equal(0, #api.calls(e))
    local r = mc:override("GET", "/message-center/queries/cases/v1", { parameters = { limit = 1 }, headers = { ["X-B"] = "2" } })
    assert.equal(200, r.status_code)
    assert.equal("2", api.header(api.last(e), "x-b"))
    for page in uber:pages("QueryCasesIdsByFilter", { limit = 1, headers = { ["X-C"] = "3" } }, { max_pages = 1 }) do
      assert.equal(200, page.status_code)
    end
    assert.equal("3", api.header(api.last(e), "x-c"), "the Uber class's iterators take its forms too")
  end)

  it("suggests the nearest operation names for an unknown action", function()
    local ok, err = pcall(uber.command, uber, "GetCaseEntitiesByID", {})
    assert.is_false(ok)
    assert.truthy(err:find("unknown operation 'GetCaseEntitiesByID'; did you mean GetCaseEntitiesByIDs", 1, true))
    assert.same({ "QueryCasesIdsByFilter" }, { uber_module.suggest("query_cases", 1)[1] })
    assert.equal("GetCaseEntitiesByIDs", uber_module.suggest("getcaseentitiesbyids", 1)[1])
  end)

  it("knows every operation of the spec plus CreateCase and UpdateCase", function()
    assert.equal(1800, endpoints.operation_count)
    local n = 0
    for id in pairs(endpoints.operations) do
      n = n + 1
      assert.is_table(endpoints.get(id), id)
    end
    assert.equal(endpoints.unique_count, n)
    assert.is_true(endpoints.get("CreateCase").decommissioned)
    assert.is_true(endpoints.get("UpdateCase").decommissioned)
  end)

  -- Arguments that satisfy an operation's parameter list (required ones, plus every optional
  -- query parameter so that its placement is exercised too).
  local function sample_args(op)
    local args = {}
    for _, p in ipairs(op.params) do
      local v
      if p.engine then
        v = nil
      elseif p.type == "file" then
        args.file_data, args.file_name = "bytes", "upload.txt"
      elseif p["in"] == "body" then
        args.body = op.body_shape == "list" and { { sample = true } } or { sample = true }
        -- an operation whose body is bytes only (no JSON in its consumes: ArchiveUploadV1) takes bytes
        if not endpoints.takes_json(op) then args.body = "bytes" end
      elseif p.required or p["in"] == "query" then
        if p.enum then
          v = p.enum[1]
        elseif p.type == "integer" or p.type == "number" then
          v = p.min or 1
          if p.max and v > p.max then v = p.max end
        elseif p.type == "boolean" then
          v = true
        elseif p.type == "array" then
          v = (p.items == "integer") and { 1, 2 } or { "a", "b" }
        else
          v = "v-" .. p.name:gsub("[^%w]", "")
          if p.minLength and #v < p.minLength then v = v .. string.rep("x", p.minLength - #v) end
          if p.maxLength and #v > p.maxLength then v = v:sub(1, p.maxLength) end
        end
      end
      if v ~= nil and args[p.name] == nil then args[p.name] = v end
    end
    return args
  end

  -- API calls including /oauth2/ ones (the table has the token operations too)
  local function wire_calls()
    local out = {}
    for _, r in ipairs(e:requests()) do
      if not (r.uri or ""):find("^/_emulator/") then out[#out + 1] = r end
    end
    return out
  end

  local function normalise(req)
    local body = req.body or ""
    local boundary = (api.header(req, "content-type") or ""):match("boundary=([^;]+)")
    if boundary then body = body:gsub(boundary:gsub("%p", "%%%0"), "BOUNDARY") end
    return { method = req.method, uri = req.uri:match("^[^?]*"), query = api.sorted_query(req), body = body }
  end

  it("sends every operation the same way through the Uber class and its service class", function()
    local class_of = {}
    for class_name, collection in pairs(endpoints.classes) do class_of[collection] = class_name end
    local services = {}
    local ids = {}
    for id in pairs(endpoints.operations) do ids[#ids + 1] = id end
    table.sort(ids)
    local checked = 0
    -- The log is read in batches (one log fetch per 200 operations keeps this fast).
    local pending = {}
    local function flush()
      local calls = wire_calls()
      local i = 0
      for _, item in ipairs(pending) do
        i = i + 1
        local u = normalise(assert(calls[i], item.id .. ": no request via the Uber class"))
        assert.equal(item.op.method, u.method, item.id)
        for _, p in ipairs(item.op.params) do
          if p["in"] == "query" and item.args[p.name] ~= nil then
            local found = false
            for _, pair in ipairs(u.query) do if pair[1] == p.name then found = true end end
            assert.is_true(found, item.id .. ": query parameter " .. p.name .. " missing")
          end
        end
        if item.service then
          i = i + 1
          local s = normalise(assert(calls[i], item.id .. ": no request via the service class"))
          assert.same(u, s, item.id)
          checked = checked + 1
        end
      end
      assert.equal(i, #calls, "one request per call expected")
      pending = {}
      e:clear_log()
    end
    uber:login()
    e:clear_log()
    for _, id in ipairs(ids) do
      local op = endpoints.get(id)
      local args = sample_args(op)
      if op.refused then -- the token operations: refused in both styles, nothing sent (spec/wire_spec.lua)
        assert.has_error(function() uber:command(id, args) end)
      else
        uber:command(id, args)
        local class_name = class_of[op.collection]
        if class_name then
          services[class_name] = services[class_name] or falcon[class_name]{ auth_object = uber }
          services[class_name][id](services[class_name], args)
        end
        pending[#pending + 1] = { id = id, op = op, args = args, service = class_name ~= nil }
        if #pending >= 200 then flush() end
      end
    end
    flush()
    -- collections without a service class in the spec are reachable through the Uber class only
    assert.is_true(checked > 1700, "checked " .. checked)
  end)
end)
