-- luacheck: no max line length
-- Every options table the SDK takes goes through one check (falcon.base.options.check_keys): an unknown key is
-- refused before anything is sent, the error names it and suggests the close one.
local api = require "spec.helpers.api"
local falcon = require "falcon"

describe("options tables", function()
  local e, mc

  setup(function()
    e = api.start()
    mc = falcon.MessageCenter(api.opts(e))
  end)
  teardown(function() if e then e:stop() end end)

  -- Expects `fn` to be refused with exactly `message` (and nothing sent: api.rejects).
  local function refused(message, fn)
    local err = api.rejects(e, message, fn)
    assert.equal(message, err)
  end

  it("a client's, a service's and the Uber class's", function()
    refused("falcon: unknown option 'timout' (did you mean 'timeout'?)",
      function() falcon.Client.new(api.opts(e, { timout = 3 })) end)
    refused("falcon: MessageCenter: unknown option 'pythnic' (did you mean 'pythonic'?)",
      function() falcon.MessageCenter(api.opts(e, { pythnic = true })) end)
    refused("falcon: MessageCenter: unknown option 'ext_header' (did you mean 'ext_headers' or 'auth_headers'?)",
      function() falcon.MessageCenter { auth_object = mc, ext_header = { ["X-A"] = "1" } } end)
    refused("falcon: APIHarnessV2: unknown option 'base_ur' (did you mean 'base_url'?)",
      function() falcon.APIHarnessV2(api.opts(e, { base_ur = e.url })) end)
  end)

  it("the pagination iterators'", function()
    refused("falcon: query_cases: unknown option 'max_page' (did you mean 'max_pages' or 'on_page'?)",
      function() mc:pages("query_cases", {}, { max_page = 2 }) end)
    refused("falcon: query_cases: unknown option 'on_pgae' (did you mean 'on_page'?)",
      function() mc:each("query_cases", {}, { on_pgae = print }) end)
  end)

  it("graphql_pages' (no undocumented 'raise': Result mode raises)", function()
    local idp = falcon.IdentityProtection(api.opts(e))
    refused("falcon: graphql_pages: unknown option 'rais'", function() falcon.graphql_pages(idp, "query { x }", nil, { rais = true }) end)
    refused("falcon: graphql_pages: unknown option 'raise'", function() falcon.graphql_pages(idp, "query { x }", nil, { raise = true }) end)
    refused("falcon: graphql_pages: unknown option 'pth' (did you mean 'path'?)",
      function() falcon.graphql_pages(idp, "query { x }", nil, { pth = "entities" }) end)
    refused("falcon: graphql_pages: bad argument 'max_pages' (number expected, got string)",
      function() falcon.graphql_pages(idp, "query { x }", nil, { max_pages = "2" }) end)
  end)

  it("falcon.parallel's and falcon.map's", function()
    refused("falcon: parallel: unknown option 'maxx' (did you mean 'max'?)",
      function() falcon.parallel({ function() return mc:query_cases { limit = 1 } end }, { maxx = 2 }) end)
    refused("falcon: map: unknown option 'mx' (did you mean 'max'?)",
      function() falcon.map({ 1 }, function() return mc:query_cases { limit = 1 } end, { mx = 2 }) end)
  end)

  it("an event stream's, with its backoff and lease tables", function()
    refused("falcon: EventStream: unknown option 'app' (did you mean 'app_id'?)",
      function() falcon.EventStream { client = mc, app = "siem1" } end)
    refused("falcon: EventStream: unknown option 'backoff.inital' (did you mean 'initial'?)",
      function() falcon.EventStream { client = mc, app_id = "siem1", backoff = { inital = 1 } } end)
    refused("falcon: EventStream: unknown option 'lease.tll' (did you mean 'ttl'?)",
      function()
        falcon.EventStream { client = mc, app_id = "siem1", coordination = { redis = "redis://127.0.0.1:1/0" }, lease = { tll = 5 } }
      end)
    refused("falcon: event_stream_nginx: unknown option 'lease_tl' (did you mean 'lease_ttl' or 'lease'?)",
      function()
        require("falcon.streams.nginx").start { stream = function() end, handler = function() end, lease_tl = 3 }
      end)
  end)

  it("a fleet's coordination table", function()
    refused("falcon: unknown option 'coordination.prefx' (did you mean 'prefix'?)",
      function() falcon.MessageCenter(api.opts(e, { coordination = { redis = "redis://127.0.0.1:1/0", prefx = "x" } })) end)
  end)
end)
