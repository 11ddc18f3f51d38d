-- luacheck: no max line length
-- Pagination iterators against the emulator's seeded data, for every paging style: numeric
-- offset + total (Message Center), string offset token (Hosts scroll), `after` token (Spotlight),
-- `_marker` timestamps (Intel), and GraphQL cursors (IdentityProtection).
local api = require "spec.helpers.api"
local falcon = require "falcon"

local function count_keys(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("pagination (against the emulator)", function()
  local e, mc, uber, all_cases

  setup(function()
    e = api.start()
    mc = falcon.MessageCenter(api.opts(e))
    uber = falcon.APIHarnessV2(api.opts(e))
    local r = mc:query_cases{ limit = 500, sort = "case.id.asc" }
    all_cases = r.body.resources
    assert.equal(r.body.meta.pagination.total, #all_cases)
    assert.is_true(#all_cases > 20)
  end)

  teardown(function()
    if e then e:stop() end
  end)

  before_each(function() e:clear_log() end)

  describe("numeric offset + total", function()
    it("each() yields every id once, in order, and stops exactly at the end", function()
      local got = {}
      for id in mc:each("query_cases", { limit = 7, sort = "case.id.asc" }) do got[#got + 1] = id end
      assert.same(all_cases, got)
      local calls = api.calls(e)
      assert.equal(math.ceil(#all_cases / 7), #calls) -- no extra request after the last page
      for i, req in ipairs(calls) do
        local q = {}
        for _, pair in ipairs(api.query(req)) do q[pair[1]] = pair[2] end
        assert.equal(tostring((i - 1) * 7), q.offset or "0")
      end
    end)

    it("pages() yields response tables with on_page progress", function()
      local progress = {}
      local pages = 0
      for page in mc:pages("QueryCasesIdsByFilter", { limit = 10, sort = "case.id.asc" }, {
        on_page = function(resp, info) progress[#progress + 1] = { info.page, info.count, info.total, info.style, resp.status_code } end,
      }) do
        pages = pages + 1
        assert.equal(200, page.status_code)
      end
      assert.equal(math.ceil(#all_cases / 10), pages)
      assert.same({ pages, #all_cases, #all_cases, "offset", 200 }, progress[#progress])
    end)

    it("works from the Uber class and in Result mode", function()
      local got = {}
      for id in uber:each("QueryCasesIdsByFilter", { limit = 9, sort = "case.id.asc" }) do got[#got + 1] = id end
      assert.same(all_cases, got)
      local py = falcon.MessageCenter(api.opts(e, { pythonic = true }))
      local n = 0
      for page in py:pages("query_cases", { limit = 9 }) do
        assert.is_true(require("falcon.base.result").is(page))
        n = n + page:len()
      end
      assert.equal(#all_cases, n)
    end)

    it("a filter with no match gives one empty page and stops", function()
      local pages = 0
      for page in mc:pages("query_cases", { filter = "case.title:'no such title at all'" }) do
        pages = pages + 1
        assert.equal(0, #page.body.resources)
      end
      assert.equal(1, pages)
      assert.equal(1, #api.calls(e))
    end)

    it("raises at the deep-offset cap instead of stopping quietly, after every reachable page", function()
      local got = {}
      local ok, err = pcall(function()
        for id in mc:each("query_cases", { limit = 10, sort = "case.id.asc" }, { max_offset = 25 }) do got[#got + 1] = id end
      end)
      assert.is_false(ok)
      assert.is_true(falcon.APIError.is(err))
      assert.equal("offset_cap", err.code)
      assert.truthy(err.message:find("narrow the filter", 1, true))
      assert.truthy(err.message:find("scroll/after", 1, true))
      assert.equal(25, #got) -- the last page asked for only what the cap allows
      for i = 1, 25 do assert.equal(all_cases[i], got[i]) end
      -- pages() raises too, in the default mode
      ok, err = pcall(function() for _ in mc:pages("query_cases", { limit = 10 }, { max_offset = 20 }) do end end)
      assert.is_false(ok)
      assert.equal("offset_cap", err.code)
    end)

    it("surfaces an API error mid-way: pages() yields it, each() raises", function()
      -- the second page fails (403: not retried): the fault is armed after the first page arrived
      local seen = {}
      local calls = 0
      local statuses = {}
      local first = true
      for page in mc:pages("query_cases", { limit = 10 }, {
        on_page = function() calls = calls + 1 end,
      }) do
        statuses[#statuses + 1] = page.status_code
        if first then
          first = false
          e:control("faults", { route = "/message-center/queries/cases/v1", status = 403, count = 1 })
        end
        for _, id in ipairs(page.body.resources or {}) do seen[#seen + 1] = id end
      end
      assert.same({ 200, 403 }, statuses)
      assert.equal(10, #seen)

      e:control("faults", { route = "/message-center/queries/cases/v1", status = 403, count = 1 })
      local ok, err = pcall(function() for _ in mc:each("query_cases", { limit = 10 }) do end end)
      assert.is_false(ok)
      assert.is_true(falcon.APIError.is(err))
      assert.equal(403, err.status_code)
    end)

    it("checks its own arguments before sending", function()
      api.rejects(e, "unknown option", function() mc:pages("query_cases", {}, { on_pgae = print }) end)
      api.rejects(e, "bad argument 'on_page' (function expected, got string)", function() mc:pages("query_cases", {}, { on_page = "x" }) end)
      api.rejects(e, "unknown operation 'nope'", function() mc:each("nope") end)
      api.rejects(e, "bad argument 'limit'", function() for _ in mc:each("query_cases", { limit = 0 }) do end end)
      api.rejects(e, "did you mean", function() uber:pages("QueryCasesIdsByFiltr") end)
    end)
  end)

  describe("string offset tokens (Hosts QueryDevicesByFilterScroll)", function()
    it("follows the token to the end, every device once", function()
      local hosts = falcon.Hosts(api.opts(e))
      local total
      local got, seen = {}, {}
      for page in hosts:pages("query_devices_by_filter_scroll", { limit = 45, sort = "hostname.asc" }) do
        assert.equal(200, page.status_code)
        total = page.body.meta.pagination.total
        for _, id in ipairs(page.body.resources) do
          assert.is_nil(seen[id])
          seen[id] = true
          got[#got + 1] = id
        end
      end
      assert.equal(total, #got)
      assert.equal(math.ceil(total / 45), #api.calls(e))
      -- the token, not a number, went back as offset
      local second = api.calls(e)[2]
      local q = {}
      for _, pair in ipairs(api.query(second)) do q[pair[1]] = pair[2] end
      assert.is_nil(tonumber(q.offset))
    end)
  end)

  describe("after tokens (Spotlight queryVulnerabilities)", function()
    it("follows meta.pagination.after until it is gone", function()
      local spotlight = falcon.SpotlightVulnerabilities(api.opts(e))
      local first = spotlight:query_vulnerabilities{ filter = "status:'open'", limit = 400 }
      local expected = first.body.meta.pagination.total
      local got, seen = 0, {}
      for id in spotlight:each("query_vulnerabilities", { filter = "status:'open'", limit = 17 }) do
        assert.is_nil(seen[id])
        seen[id] = true
        got = got + 1
      end
      assert.equal(expected, got)
      assert.is_true(got > 17)
      local afters = 0
      for _, req in ipairs(api.calls(e)) do
        for _, pair in ipairs(api.query(req)) do if pair[1] == "after" then afters = afters + 1 end end
      end
      assert.equal(math.ceil(expected / 17) - 1, afters)
    end)
  end)

  describe("_marker timestamps (Intel QueryIntelIndicatorEntities)", function()
    it("yields the boundary entity once, not twice, and reaches the end", function()
      local intel = falcon.Intel(api.opts(e))
      local all = intel:query_indicator_entities{ limit = 5000, sort = "_marker.asc" }
      local expected = all.body.resources
      local got, seen = {}, {}
      for item in intel:each("query_indicator_entities", { limit = 40, sort = "_marker.asc", filter = "_marker:>='0'" }) do
        assert.is_nil(seen[item.id], "duplicate " .. tostring(item.id))
        seen[item.id] = true
        got[#got + 1] = item._marker
      end
      assert.equal(#expected, #got)
      for i, item in ipairs(expected) do assert.equal(item._marker, got[i]) end
      -- later requests carried the last marker of the page before
      local calls = api.calls(e)
      assert.is_true(#calls > 2)
      local q = {}
      for _, pair in ipairs(api.query(calls[2])) do q[pair[1]] = pair[2] end
      assert.truthy(q.filter:find("^_marker:>='%d+"))
    end)

    it("marker_filter replaces or adds the condition", function()
      local pg = require "falcon.call.paginate"
      assert.equal("_marker:>='5'", pg.marker_filter(nil, "5"))
      assert.equal("type:'domain'+_marker:>='5'", pg.marker_filter("type:'domain'", "5"))
      assert.equal("_marker:>='7'+type:'x'", pg.marker_filter("_marker:>='5'+type:'x'", "7"))
    end)
  end)

  describe("a server that makes no progress", function()
    local CASES = "/message-center/queries/cases/v1"
    before_each(function() e:control("faults", { clear = true }) end)
    after_each(function() e:control("faults", { clear = true }) end)

    -- Runs the loop; returns what it got before it raised, and the error (nil when it ended).
    local function drain(loop)
      local got = {}
      local ok, err = pcall(loop, function(x) got[#got + 1] = x end)
      return got, (not ok) and err or nil
    end

    local function no_progress(err, operation, value)
      assert.is_true(falcon.APIError.is(err), tostring(err))
      assert.equal("no_progress", err.code)
      assert.equal("pagination", err.kind)
      assert.equal(operation, err.operation)
      assert.truthy(err.message:find(value, 1, true), err.message)
    end

    it("offset: the same page again raises (sequential and parallel), nothing yielded twice", function()
      local first = {}
      for i = 1, 7 do first[i] = all_cases[i] end
      e:control("faults", { route = CASES, count = -1, set = { resources = first } })
      for _, parallel in ipairs { 1, 3 } do
        local got, err = drain(function(keep)
          for id in mc:each("query_cases", { limit = 7, sort = "case.id.asc" }, { parallel = parallel }) do keep(id) end
        end)
        no_progress(err, "QueryCasesIdsByFilter", "offset '7'")
        assert.same(first, got)
      end
    end)

    it("offset: an empty page while the total says more remain raises, never a quiet end", function()
      e:control("faults", { route = CASES, count = -1, set = { resources = {} } })
      local pages, err = drain(function(keep)
        for page in mc:pages("query_cases", { limit = 7 }) do keep(#page.body.resources) end
      end)
      assert.same({ 0 }, pages) -- the empty page itself, then the error
      assert.equal("short_page", err.code)
      assert.truthy(err.message:find("no items at offset 0 although the server's total is " .. #all_cases, 1, true),
        err.message)
    end)

    it("offset: a total that is not a count raises", function()
      e:control("faults", { route = CASES, count = -1, set = { ["meta.pagination.total"] = -5 } })
      local _, err = drain(function(keep) for id in mc:each("query_cases", { limit = 7 }) do keep(id) end end)
      assert.equal("bad_pagination", err.code)
    end)

    it("offset: the 10,000 cap raises under parallel paging too, after every page it allows", function()
      local got, err = drain(function(keep)
        for id in mc:each("query_cases", { limit = 10, sort = "case.id.asc" }, { max_offset = 25, parallel = 3 }) do
          keep(id)
        end
      end)
      assert.equal("offset_cap", err.code)
      assert.equal(25, #got)
    end)

    it("offset: a page size the server names is read strictly (parallel paging steps by the page it got)", function()
      local intel = falcon.Intel(api.opts(e))
      local expected = intel:QueryIntelIndicatorIds { limit = 5000 }.body.resources
      assert.is_true(#expected > 200)
      for _, bogus in ipairs { 0, -100, 0.5, 1e300 } do
        e:control("faults", { route = "/intel/queries/indicators/v1", count = -1,
                              set = { ["meta.pagination.limit"] = bogus } })
        local got = {}
        for id in intel:each("QueryIntelIndicatorIds", {}, { parallel = 3 }) do got[#got + 1] = id end
        assert.same(expected, got)
      end
    end)

    it("string offset tokens: the same token again raises after that page", function()
      local hosts = falcon.Hosts(api.opts(e))
      local args = { limit = 45, sort = "hostname.asc" }
      local token = hosts:query_devices_by_filter_scroll(args).body.meta.pagination.offset
      e:control("faults", { route = "/devices/queries/devices-scroll/v1", count = -1,
                            set = { ["meta.pagination.offset"] = token } })
      local got, err = drain(function(keep) for id in hosts:each("query_devices_by_filter_scroll", args) do keep(id) end end)
      no_progress(err, "QueryDevicesByFilterScroll", "offset token '" .. token .. "'")
      assert.equal(90, #got) -- both pages the token named, once each
    end)

    it("after tokens: the same after again raises after that page", function()
      local spotlight = falcon.SpotlightVulnerabilities(api.opts(e))
      local args = { filter = "status:'open'", limit = 17 }
      local after = spotlight:query_vulnerabilities(args).body.meta.pagination.after
      e:control("faults", { route = "/spotlight/queries/vulnerabilities/v1", count = -1,
                            set = { ["meta.pagination.after"] = after } })
      local got, err = drain(function(keep) for id in spotlight:each("query_vulnerabilities", args) do keep(id) end end)
      no_progress(err, "queryVulnerabilities", "after token '" .. after .. "'")
      assert.equal(34, #got)
      -- a server that ignores `after` and sends the first page again: raised before any item repeats
      e:control("faults", { clear = true })
      local first = spotlight:query_vulnerabilities(args).body.resources
      e:control("faults", { route = "/spotlight/queries/vulnerabilities/v1", count = -1, set = { resources = first } })
      got, err = drain(function(keep) for id in spotlight:each("query_vulnerabilities", args) do keep(id) end end)
      no_progress(err, "queryVulnerabilities", "repeats the page before it")
      assert.equal(17, #got)
    end)

    it("a token or marker with control characters is refused as the server's fault, not sent", function()
      local spotlight = falcon.SpotlightVulnerabilities(api.opts(e))
      e:control("faults", { route = "/spotlight/queries/vulnerabilities/v1", count = -1,
                            set = { ["meta.pagination.after"] = "abc\r\nX-Evil: 1" } })
      local got, err = drain(function(keep)
        for id in spotlight:each("query_vulnerabilities", { filter = "status:'open'", limit = 17 }) do keep(id) end
      end)
      assert.equal("bad_pagination", err.code)
      assert.truthy(err.message:find("after token", 1, true))
      assert.equal(17, #got)
      e:control("faults", { clear = true })
      e:clear_log()
      local intel = falcon.Intel(api.opts(e))
      e:control("faults", { route = "/intel/combined/indicators/v1", count = -1, set = { ["resources.40._marker"] = "1\n2" } })
      got, err = drain(function(keep)
        for item in intel:each("query_indicator_entities", { limit = 40, sort = "_marker.asc" }) do keep(item) end
      end)
      assert.equal("bad_pagination", err.code)
      assert.equal(40, #got)
      assert.equal(1, #api.calls(e)) -- the first page, then nothing more sent
    end)

    it("_marker: a marker that does not advance raises", function()
      local intel = falcon.Intel(api.opts(e))
      local args = { limit = 40, sort = "_marker.asc", filter = "_marker:>='0'" }
      local marker = intel:query_indicator_entities(args).body.resources[40]._marker
      -- every page's last entity claims the first page's last marker
      e:control("faults", { route = "/intel/combined/indicators/v1", count = -1, set = { ["resources.40._marker"] = marker } })
      local got, err = drain(function(keep) for item in intel:each("query_indicator_entities", args) do keep(item) end end)
      no_progress(err, "QueryIntelIndicatorEntities", "_marker '" .. marker .. "'")
      assert.equal(40 + 38, #got) -- the second page without its boundary entity and its last
    end)

    it("GraphQL: the same endCursor again raises after that page", function()
      local QUERY = [[
query ($after: Cursor) {
  entities(types: [USER], archived: false, learned: false, first: 5, after: $after) {
    nodes { primaryDisplayName }
    pageInfo { hasNextPage endCursor }
  }
}]]
      local idp = falcon.IdentityProtection(api.opts(e))
      local first = falcon.graphql_pages(idp, QUERY)()
      local cursor = first.body.data.entities.pageInfo.endCursor
      e:control("faults", { route = "/identity-protection/combined/graphql/v1", count = -1,
                            set = { ["data.entities.pageInfo.endCursor"] = cursor } })
      local got, err = drain(function(keep)
        for _, nodes in falcon.graphql_pages(idp, QUERY) do for _, node in ipairs(nodes) do keep(node) end end
      end)
      no_progress(err, "api_preempt_proxy_post_graphql", "endCursor '" .. cursor .. "'")
      assert.equal(10, #got)
    end)
  end)

  describe("GraphQL cursors (IdentityProtection)", function()
    local QUERY = [[
query ($after: Cursor) {
  entities(types: [USER], archived: false, learned: false, first: 7, after: $after) {
    nodes { primaryDisplayName secondaryDisplayName }
    pageInfo { hasNextPage endCursor }
  }
}]]

    it("passes endCursor back as $after until hasNextPage is false", function()
      local idp = falcon.IdentityProtection(api.opts(e))
      local names, pages = {}, 0
      for page, nodes in falcon.graphql_pages(idp, QUERY) do
        pages = pages + 1
        assert.equal(200, page.status_code)
        for _, node in ipairs(nodes) do names[#names + 1] = node.primaryDisplayName end
      end
      assert.is_true(pages > 1)
      local calls = api.calls(e)
      assert.equal(pages, #calls)
      assert.is_nil(api.body(calls[1]).variables)
      assert.is_string(api.body(calls[2]).variables.after)
      local distinct = {}
      for _, n in ipairs(names) do distinct[n] = true end
      assert.equal(#names, count_keys(distinct))
    end)

    it("raises GraphQL and HTTP errors in Result mode, yields them in the default mode", function()
      local idp = falcon.IdentityProtection(api.opts(e, { pythonic = true }))
      local ok, err = pcall(function() for _ in falcon.graphql_pages(idp, "query { nonsense(") do end end)
      assert.is_false(ok)
      assert.is_true(falcon.APIError.is(err))
      local plain = falcon.IdentityProtection(api.opts(e))
      local n, last = 0, nil
      for page in falcon.graphql_pages(plain, "query { nonsense(") do n = n + 1; last = page end
      assert.equal(1, n)
      assert.is_table(last.body.errors)
    end)

    it("checks its arguments before sending", function()
      local idp = falcon.IdentityProtection(api.opts(e))
      api.rejects(e, "bad argument 'query'", function() falcon.graphql_pages(idp, 5) end)
      api.rejects(e, "bad argument 'variables'", function() falcon.graphql_pages(idp, "q", "x") end)
      api.rejects(e, "bad argument 'client'", function() falcon.graphql_pages(nil, "q") end)
    end)
  end)
end)
