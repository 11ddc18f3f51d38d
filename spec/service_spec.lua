-- luacheck: no max line length
-- Service classes: construction, auth sharing, login/logout, downloads (bytes, expand_result,
-- save_to), transport failures in the default shape, the decommission warning, and the generic
-- classes built from the same tables.
local api = require "spec.helpers.api"
local falcon = require "falcon"
local endpoints = require "falcon.endpoints"

describe("service classes (against the emulator)", function()
  local e, mc, case_id, user_uuid, attachment_id

  setup(function()
    e = api.start()
    mc = falcon.MessageCenter(api.opts(e))
    case_id = mc:query_cases{ limit = 1 }.body.resources[1]
    user_uuid = mc:get_cases(case_id).body.resources[1].assigner.uuid
    local up = mc:add_case_attachment{ case_id = case_id, user_uuid = user_uuid, file_data = "0123456789", file_name = "digits.txt" }
    attachment_id = up.body.resources[1].id
  end)

  teardown(function()
    if e then e:stop() end
  end)

  it("exposes every Message Center operation under its PEP8 name and its Operation ID", function()
    local names = {
      aggregate_cases = "AggregateCases", get_case_activity = "GetCaseActivityByIds",
      add_case_activity = "CaseAddActivity", download_case_attachment = "CaseDownloadAttachment",
      add_case_attachment = "CaseAddAttachment", create_case = "CreateCase", create_case_v2 = "CreateCaseV2",
      update_case = "UpdateCase", get_cases = "GetCaseEntitiesByIDs", query_activities = "QueryActivityByCaseID",
      query_cases = "QueryCasesIdsByFilter",
    }
    for pep8, opid in pairs(names) do
      assert.is_function(mc[pep8], pep8)
      assert.is_function(mc[opid], opid)
    end
    local ops = falcon.MessageCenter.operations()
    assert.equal(11, #ops)
    assert.is_nil(mc.no_such_operation)
  end)

  it("returns the seed's response shape by default", function()
    local r = mc:query_cases{ limit = 2 }
    assert.equal(200, r.status_code)
    assert.is_table(r.headers)
    assert.is_table(r.body.meta)
    assert.is_table(r.body.errors)
    assert.equal(2, #r.body.resources)
    assert.is_string(r.body.meta.trace_id)
    assert.equal(2, r.body.meta.pagination.limit)
  end)

  it("returns API errors as the response table in the default mode", function()
    local r = mc:get_cases{ ids = { "no-such-case" } }
    assert.is_true(r.status_code >= 400 or #r.body.errors > 0)
    assert.is_table(r.body.errors)
  end)

  it("login, token_valid, token_expired, base_url, logout (revokes)", function()
    local own = falcon.MessageCenter(api.opts(e))
    assert.is_false(own.token_valid)
    assert.is_true(own:token_expired())
    assert.is_true(own:login())
    assert.is_true(own.token_valid)
    assert.is_false(own:token_expired())
    assert.equal(e.url, (own.base_url:gsub("/$", "")))
    e:clear_log()
    assert.is_true(own:logout())
    assert.equal(1, #api.calls_to(e, "/oauth2/revoke"))
    assert.is_false(own.token_valid)
  end)

  it("auth_object shares one token between objects", function()
    local first = falcon.MessageCenter(api.opts(e))
    e:clear_log()
    local second = falcon.MessageCenter{ auth_object = first }
    local third = falcon.APIHarnessV2{ auth_object = second, pythonic = true }
    assert.equal(200, first:query_cases{ limit = 1 }.status_code)
    assert.equal(200, second:query_cases{ limit = 1 }.status_code)
    assert.equal(1, third:command("QueryCasesIdsByFilter", { limit = 1 }):len())
    assert.equal(1, #api.calls_to(e, "/oauth2/token"))
    local auths = {}
    for _, r in ipairs(api.calls(e)) do auths[api.header(r, "authorization")] = true end
    local n = 0
    for _ in pairs(auths) do n = n + 1 end
    assert.equal(1, n)
    assert.equal(first.client, third.client)
  end)

  it("rejects engine options next to auth_object, and bad constructor arguments", function()
    assert.has_error(function() falcon.MessageCenter{ auth_object = mc, client_id = "x" } end,
      "falcon: MessageCenter: bad argument 'client_id' (not accepted with auth_object: the shared client keeps its own settings)")
    assert.has_error(function() falcon.MessageCenter{ auth_object = "x" } end,
      "falcon: MessageCenter: bad argument 'auth_object' (service, Uber or client object expected, got string)")
    assert.has_error(function() falcon.MessageCenter{ pythonic = "yes" } end,
      "falcon: MessageCenter: bad argument 'pythonic' (boolean expected, got string)")
    assert.has_error(function() falcon.MessageCenter("x") end,
      "falcon: MessageCenter: bad argument 'options' (table expected, got string)")
    local ok, err = pcall(falcon.MessageCenter, { client_idd = "x" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("client_idd", 1, true))
  end)

  describe("downloads", function()
    it("return the bytes as a string", function()
      assert.equal("0123456789", mc:download_case_attachment(attachment_id))
    end)

    it("expand_result returns status_code, headers, content", function()
      local status, headers, content = mc:download_case_attachment{ id = attachment_id, expand_result = true }
      assert.equal(200, status)
      assert.is_table(headers)
      assert.equal("0123456789", content)
    end)

    it("save_to streams to a file and returns the response table", function()
      local path = os.tmpname()
      local r = mc:download_case_attachment{ id = attachment_id, save_to = path }
      assert.equal(200, r.status_code)
      assert.equal("0123456789", api.read(path))
      os.remove(path)
    end)

    it("an unknown attachment gives the JSON error response, not bytes", function()
      local r = mc:download_case_attachment("no-such-attachment")
      assert.is_table(r)
      assert.is_true(r.status_code >= 400)
      assert.is_table(r.body.errors)
      assert.is_string(r.body.errors[1].message)
    end)
  end)

  it("reports a transport failure in the response shape, with what failed", function()
    -- a port nothing listens on: bind, note, close
    local dead = falcon.MessageCenter{ client_id = "a", client_secret = "b", base_url = "http://127.0.0.1:9", timeout = 5 }
    local r = dead:query_cases{ limit = 1 }
    assert.equal(500, r.status_code)
    assert.is_table(r.headers)
    assert.is_string(r.body.errors[1].message)
    assert.is_table(r.transport_error)
  end)

  it("CreateCase and UpdateCase work and warn once each on stderr", function()
    local written = {}
    local real = io.stderr
    -- stand-in for stderr that records what is written
    io.stderr = { write = function(self, ...) for _, s in ipairs { ... } do written[#written + 1] = s end return self end } -- luacheck: ignore 122
    local ok, err = pcall(function()
      for _ = 1, 3 do
        local r = mc:create_case{ content = "c", title = "warn", type = "fc:contact", user_uuid = user_uuid }
        assert.equal(200, r.status_code)
        r = mc:UpdateCase{ id = case_id, content = "u" }
        assert.equal(200, r.status_code)
      end
    end)
    io.stderr = real -- luacheck: ignore 122
    assert(ok, err)
    local text = table.concat(written)
    local n_create = select(2, text:gsub("CreateCase %(", ""))
    local n_update = select(2, text:gsub("UpdateCase %(", ""))
    -- once per process: another spec may have warned already, so at most once here
    assert.is_true(n_create <= 1 and n_update <= 1)
    assert.truthy(text == "" or text:find("decommissioned", 1, true))
  end)

  describe("generic classes from the same tables", function()
    it("exist for every service class of the spec", function()
      local n = 0
      for class_name, collection in pairs(endpoints.classes) do
        local class = falcon[class_name]
        assert.is_table(class, class_name)
        assert.equal(collection, class.collection)
        n = n + 1
      end
      assert.equal(113, n) -- and NetworkScan, made of eight (endpoints.class_collections): FalconPy's 114
    end)

    it("map query, path and body parameters by the table (Hosts, CustomStorage, IdentityProtection)", function()
      local hosts = falcon.Hosts(api.opts(e))
      e:clear_log()
      hosts:query_devices_by_filter{ limit = 5, sort = "hostname.asc", offset = 10 }
      local req = api.last(e)
      assert.equal("/devices/queries/devices/v1", req.path)
      assert.same({ { "limit", "5" }, { "offset", "10" }, { "sort", "hostname.asc" } }, api.sorted_query(req))

      hosts:GetDeviceDetailsV2{ ids = { "a", "b" } }
      req = api.last(e)
      assert.equal("/devices/entities/devices/v2", req.path)
      assert.same({ { "ids", "a" }, { "ids", "b" } }, api.query(req))

      hosts:get_device_details{ ids = { "a", "b" } }
      req = api.last(e)
      assert.equal("POST", req.method)
      assert.same({ ids = { "a", "b" } }, api.body(req))

      local storage = falcon.CustomStorage(api.opts(e))
      storage:GetObject{ collection_name = "my coll", object_key = "k/1" }
      req = api.last(e)
      -- the log holds nginx's decoded $uri; a slash inside a value stays one segment only if encoded
      if req.request_uri then
        assert.equal("/customobjects/v1/collections/my%20coll/objects/k%2F1", req.request_uri:match("^[^?]*"))
      else
        assert.equal("/customobjects/v1/collections/my coll/objects/k/1", req.uri:match("^[^?]*"))
      end

      local idp = falcon.IdentityProtection(api.opts(e))
      idp:graphql{ query = "query { x }", variables = { after = "c1" } }
      req = api.last(e)
      assert.equal("/identity-protection/combined/graphql/v1", req.path)
      assert.same({ query = "query { x }", variables = { after = "c1" } }, api.body(req))
    end)

    it("check generic parameters before sending", function()
      local hosts = falcon.Hosts(api.opts(e))
      api.rejects(e, "bad argument 'collection_name'", function()
        falcon.CustomStorage(api.opts(e)):GetObject{ object_key = "k" }
      end)
      api.rejects(e, "bad argument 'limit' (integer (or its digits as a string) expected, got string '5x')", function()
        hosts:query_devices_by_filter{ limit = "5x" }
      end)
      api.rejects(e, "bad argument 'sort'", function() hosts:query_devices_by_filter{ sort = true } end)
    end)
  end)
end)
