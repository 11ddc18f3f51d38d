-- luacheck: no max line length
-- What FalconPy users reach for (options, attributes, methods, Result members), and the messages a new
-- user gets for the four common mistakes: bad credentials, a wrong region, a missing scope, an unknown id.
local api = require "spec.helpers.api"
local falcon = require "falcon"
local json = require "falcon.json"

local READ_ONLY = { id = "dec0de00000000000000000000000002", secret = "ReadOnlySecretForTheFalconluaEmulator002" }
local US2 = { id = "dec0de00000000000000000000000003", secret = "UsTwoSecretForTheFalconluaEmulator000003" }
local PARENT = { id = "dec0de00000000000000000000000004", secret = "ParentSecretForTheFalconluaEmulator00004" }
local CHILD = "c1d00000000000000000000000000011"

describe("FalconPy habits (against the emulator)", function()
  local e

  setup(function() e = api.start() end)
  teardown(function() if e then e:stop() end end)

  local function opts(extra) return api.opts(e, extra) end

  local function raises(pattern, fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "expected an error matching '" .. pattern .. "'")
    assert.truthy(tostring(err):find(pattern, 1, true), tostring(err))
    return err
  end

  describe("messages a new user can act on", function()
    it("bad credentials: the token request failed, at which URL, and why (default and Result mode)", function()
      local mc = falcon.MessageCenter(opts { client_secret = "not-the-secret" })
      local r = mc:query_cases { limit = 1 }
      assert.equal(403, r.status_code)
      assert.equal("token request failed: POST " .. e.url .. "/oauth2/token answered 403 (access denied, authorization failed); "
        .. "check client_id and client_secret (or FALCON_CLIENT_ID / FALCON_CLIENT_SECRET): the API refused them",
        r.body.errors[1].message)
      assert.same({ url = e.url .. "/oauth2/token", status = 403, reason = "access denied, authorization failed",
                    errors = { { code = 403, message = "access denied, authorization failed" } } }, r.token_error)
      assert.equal(403, mc.token_status)
      assert.equal("access denied, authorization failed", mc.token_fail_reason)
      assert.is_false(mc:authenticated())
      assert.is_nil(tostring(r.body.errors[1].message):find("not-the-secret", 1, true))

      local pmc = falcon.MessageCenter(opts { client_secret = "not-the-secret", pythonic = true })
      local err = raises("falcon.APIError QueryCasesIdsByFilter: [403] token request failed: POST " .. e.url .. "/oauth2/token answered 403",
        function() return pmc:query_cases { limit = 1 } end)
      assert.equal("auth", err.kind)
      assert.equal(e.url .. "/oauth2/token", err.token_error.url)
      -- an unreachable token endpoint is a transport failure that still names the token request
      local gone = falcon.MessageCenter { client_id = e.client_id, client_secret = e.client_secret,
                                          base_url = "http://127.0.0.1:1", max_retries = 0 }
      local down = gone:query_cases { limit = 1 }
      assert.equal(500, down.status_code)
      assert.truthy(down.body.errors[1].message:find("token request to http://127.0.0.1:1/oauth2/token failed: ", 1, true),
        down.body.errors[1].message)
    end)

    it("a wrong region: a us-2 client pointed at a us-1 URL is told where it lives", function()
      local mc = falcon.MessageCenter(opts { client_id = US2.id, client_secret = US2.secret })
      local r = mc:query_cases { limit = 1 }
      assert.equal(401, r.status_code)
      assert.equal("access denied, invalid bearer token (falconlua: wrong region: the token endpoint places this API client in us-2, "
        .. "but " .. e.url .. " answers as us-1; set base_url = \"us-2\" (or that cloud's URL))", r.body.errors[1].message)
      assert.equal(201, mc.token_status)
      -- following the hint works
      mc.base_url = e.regions["us-2"]
      assert.equal(200, mc:query_cases { limit = 1 }.status_code)
    end)

    it("a missing scope: the token was accepted, the operation needs a scope the API client lacks", function()
      local mc = falcon.MessageCenter(opts { client_id = READ_ONLY.id, client_secret = READ_ONLY.secret })
      local r = mc:add_case_activity { case_id = "0123", content = "text", type = "comment", user_uuid = "u" }
      assert.equal(403, r.status_code)
      assert.equal("access denied, authorization failed (falconlua: the token was accepted but does not allow CaseAddActivity "
        .. "(POST /message-center/entities/case-activity/v1): give the API client message-center:write in the Falcon console "
        .. "(API clients and keys))", r.body.errors[1].message)
      assert.is_nil(r.token_error)
      assert.equal(201, mc.token_status)
    end)

    it("an unknown id: the lookup found nothing under it", function()
      local mc = falcon.MessageCenter(opts { pythonic = true })
      local err = raises("falcon.APIError GetCaseEntitiesByIDs: [404] case not found (falconlua: GetCaseEntitiesByIDs found nothing "
        .. "under the id(s) given: check them (the query operations list the ids that exist in this tenant))",
        function() return mc:get_cases("no-such-case") end)
      assert.equal(404, err.status_code)
    end)

    it("an empty id list is refused before the wire", function()
      local mc = falcon.MessageCenter(opts())
      api.rejects(e, "falcon: get_case_activity: bad argument 'ids' (string or list of strings expected, got an empty list)",
        function() mc:get_case_activity { ids = {} } end)
      api.rejects(e, "bad argument 'ids'", function() mc:get_cases("") end)
      local uber = falcon.APIHarnessV2(opts())
      api.rejects(e, "falcon: GetCaseActivityByIds: bad argument 'body.ids' (one or more ids expected, got an empty list)",
        function() uber:command("GetCaseActivityByIds", { body = { ids = {} } }) end)
    end)
  end)

  describe("attributes", function()
    it("base_url and pythonic set after construction take effect", function()
      local mc = falcon.MessageCenter(opts())
      assert.equal(200, mc:query_cases { limit = 1 }.status_code)
      mc.base_url = e.regions["eu-1"]
      assert.equal(e.regions["eu-1"], mc.base_url)
      e:clear_log()
      local r = mc:query_cases { limit = 1 }
      -- the demo client lives in us-1: eu-1 refuses its token, so the request really went there
      assert.equal(401, r.status_code)
      assert.equal("eu-1", r.headers["X-Cs-Region"])
      mc.base_url = e.url
      mc.pythonic = true
      assert.is_true(falcon.Result.is(mc:query_cases { limit = 1 }))
      mc.renew_window = 5000
      assert.equal(1200, mc.renew_window)
    end)

    it("attributes that cannot take effect raise an error naming them", function()
      local mc = falcon.MessageCenter(opts())
      raises("falcon: cannot set 'proxy': it is a connection setting held by the C core", function() mc.proxy = "http://p" end)
      raises("falcon: cannot set 'ssl_verify'", function() mc.ssl_verify = false end)
      raises("falcon: cannot set 'pythonic_mode' on falcon.MessageCenter", function() mc.pythonic_mode = true end)
      raises("falcon: bad attribute 'pythonic' (boolean expected, got string)", function() mc.pythonic = "yes" end)
      raises("falcon: 'auth_headers' is not available: the bearer token and the client secret live in the C core",
        function() return mc.auth_headers end)
      raises("falcon: 'token' is not available", function() return mc.token end)
      local uber = falcon.APIHarnessV2(opts())
      raises("falcon: cannot set 'timeout'", function() uber.timeout = 5 end)
      uber.base_url = e.url
      assert.equal(e.url, uber.base_url)
    end)
  end)

  describe("options and methods", function()
    it("creds = {client_id, client_secret} as FalconPy takes them", function()
      local mc = falcon.MessageCenter { creds = { client_id = e.client_id, client_secret = e.client_secret }, base_url = e.url }
      assert.equal(200, mc:query_cases { limit = 1 }.status_code)
      raises("falcon: bad option 'creds' (creds or client_id (not both) expected, got both)",
        function() falcon.MessageCenter { creds = { client_id = "a", client_secret = "b" }, client_id = "a", client_secret = "b" } end)
      raises("falcon: bad option 'creds' (table with client_id, client_secret and member_cid expected, got key 'secret')",
        function() falcon.MessageCenter { creds = { secret = "b" } } end)
    end)

    it("ext_headers go on every API call of the object, under the call's own", function()
      local uber = falcon.APIHarnessV2(opts { ext_headers = { ["X-Team"] = "blue", ["X-Mode"] = "ext" } })
      e:clear_log()
      uber:command("QueryCasesIdsByFilter", { limit = 1, headers = { ["X-Mode"] = "call" } })
      local last = api.last(e)
      assert.equal("blue", api.header(last, "X-Team"))
      assert.equal("call", api.header(last, "X-Mode"))
      uber.ext_headers = {}
      uber:command("QueryCasesIdsByFilter", { limit = 1 })
      assert.is_nil(api.header(api.last(e), "X-Team"))
      raises("Authorization belongs to the engine", function() falcon.MessageCenter(opts { ext_headers = { authorization = "x" } }) end)
    end)

    it("FalconPy options falconlua does not take say why", function()
      raises("falcon: option 'debug_record_count' is not supported: falconlua's debug log never writes response records",
        function() falcon.MessageCenter(opts { debug_record_count = 10 }) end)
      raises("falcon: option 'auth_headers' is not supported: the bearer token never reaches Lua",
        function() falcon.MessageCenter(opts { auth_headers = {} }) end)
      raises("falcon: bad option 'validate_payloads': falconlua checks every argument before anything is sent",
        function() falcon.MessageCenter(opts { validate_payloads = false }) end)
      raises("falcon: bad option 'sanitize_log': secrets and tokens never reach a log line",
        function() falcon.MessageCenter(opts { sanitize_log = false }) end)
      -- true is what falconlua always does
      local mc = falcon.MessageCenter(opts { validate_payloads = true, sanitize_log = true })
      assert.equal(200, mc:query_cases { limit = 1 }.status_code)
    end)

    it("override(method, route, {...}) on a service class", function()
      local mc = falcon.MessageCenter(opts())
      local r = mc:override("GET", "/message-center/queries/cases/v1", { parameters = { limit = 2 } })
      assert.equal(200, r.status_code)
      assert.equal(2, #r.body.resources)
      raises("bad argument 'method'", function() mc:override(nil, "/x") end)
    end)

    it("child_login / child_logout (MSSP)", function()
      local mc = falcon.MessageCenter(opts { client_id = PARENT.id, client_secret = PARENT.secret })
      e:clear_log()
      assert.is_true(mc:child_login(CHILD))
      local token_requests = api.calls_to(e, "/oauth2/token")
      assert.truthy(token_requests[#token_requests].body:find("member_cid=" .. CHILD, 1, true))
      assert.equal(200, mc:query_cases { limit = 1 }.status_code)
      assert.is_true(mc:child_logout())
      token_requests = api.calls_to(e, "/oauth2/token")
      assert.is_nil(token_requests[#token_requests].body:find("member_cid", 1, true))
      assert.is_false(mc:child_login("c1d00000000000000000000000000099"))
      assert.equal(403, mc.token_status)
      raises("bad argument 'member_cid'", function() mc:child_login("") end)
    end)

    it("closing a client revokes its token (Lua 5.4 <close>, as FalconPy's with)", function()
      e:clear_log()
      local mc = falcon.MessageCenter(opts())
      if _VERSION == "Lua 5.4" and not rawget(_G, "jit") then
        local chunk = assert(load([[
          local falcon, opts = ...
          local mc <close> = falcon.MessageCenter(opts)
          assert(mc:query_cases { limit = 1 }.status_code == 200)
        ]]))
        chunk(falcon, opts())
      else
        -- LuaJIT has no <close>; the same metamethod, called as the block's end would
        assert.equal(200, mc:query_cases { limit = 1 }.status_code)
        getmetatable(mc).__close(mc)
      end
      assert.equal(1, #api.calls_to(e, "/oauth2/revoke"))
      assert.equal(1, #api.calls_to(e, "/oauth2/token"))
    end)
  end)

  describe("Result members", function()
    it("total, offset, limit, query_time, powered_by, trace_id, region, ratelimit_*, full_return, tupled, binary, for-in", function()
      local mc = falcon.MessageCenter(opts { pythonic = true })
      local r = mc:query_cases { limit = 3, offset = "2", sort = "case.id.asc" }
      assert.equal(50, r.total)
      assert.equal(2, r.offset)
      assert.equal(3, r.limit)
      assert.is_nil(r.after)
      assert.is_number(r.query_time)
      assert.equal("messagecenter-api", r.powered_by)
      assert.equal(r.meta.trace_id, r.trace_id)
      assert.equal(r.headers["X-Cs-Traceid"], r.trace_id)
      assert.equal("us-1", r.region)
      assert.equal(6000, r.ratelimit_limit)
      assert.is_number(r.ratelimit_remaining)
      assert.is_false(r.binary)
      local full = r.full_return
      assert.equal(200, full.status_code)
      assert.same(r.data, full.body.resources)
      local status, headers, body = r:tupled()
      assert.equal(200, status)
      assert.equal(r.headers, headers)
      assert.same(r.data, body.resources)
      local seen = {}
      for id in r do seen[#seen + 1] = id end
      assert.same(r.data, seen)
      -- a loop broken off starts over from the first item
      local taken = 0
      for _ in r do
        taken = taken + 1
        if taken == 2 then break end
      end
      assert.equal(2, taken)
      local again = {}
      for id in r do again[#again + 1] = id end
      assert.same(r.data, again)

      local spotlight = falcon.SpotlightVulnerabilities(opts { pythonic = true })
      local v = spotlight:query_vulnerabilities { limit = 5, filter = "last_seen_within:'45'" }
      assert.is_string(v.after)
      assert.equal(128, v.total)
      local graph = falcon.IdentityProtection(opts { pythonic = true })
      local g = graph:graphql { query = "query { entities(first: 1) { nodes { primaryDisplayName } } }" }
      assert.is_table(g.raw)
      assert.is_false(g.binary)
      assert.is_nil(json.encode(g.full_return.body):find("resources", 1, true))
    end)
  end)
end)
