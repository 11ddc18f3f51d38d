-- Emulator: the other pagination styles (after token, _marker timestamp, scroll offset token,
-- GraphQL cursor) and deterministic bulk seeding.
local cjson = require "cjson"
local emu = require "spec.helpers.emulator"

describe("emulator pagination styles and seeding", function()
    local e, token

    setup(function()
        e = emu.start{ seed = { seed = 5, cases = 10, vulnerabilities = 237, indicators = 180, devices = 203,
                                entities = 61 } }
        token = e:token()
    end)
    teardown(function()
        if e then e:stop() end
    end)

    local function get(path, query)
        local resp = e:http{ path = path, token = token, query = query }
        return resp
    end

    describe("Spotlight queryVulnerabilities (after token)", function()
        local PATH = "/spotlight/queries/vulnerabilities/v1"

        local function walk(filter, limit)
            local ids, seen, after, total, pages = {}, {}, nil, nil, 0
            repeat
                local q = { { "filter", filter }, { "limit", limit } }
                if after then q[#q + 1] = { "after", after } end
                local resp = get(PATH, q)
                assert.equal(200, resp.status, resp.body)
                local p = resp.json.meta.pagination
                assert.equal(limit, p.limit)
                total = total or p.total
                assert.equal(total, p.total)
                for _, id in ipairs(resp.json.resources) do
                    assert.is_nil(seen[id], "duplicate " .. id)
                    seen[id] = true
                    ids[#ids + 1] = id
                end
                after = p.after
                pages = pages + 1
            until after == nil
            return ids, total, pages
        end

        it("pages through every match by passing meta.pagination.after back", function()
            local all = "status:['open','closed','reopen','expired']"
            local ids, total, pages = walk(all, 50)
            assert.equal(237, total)
            assert.equal(237, #ids)
            assert.equal(5, pages)
            local other = walk(all, 400)
            assert.same(ids, other)
            for _, id in ipairs(ids) do
                assert.matches("^%x+_%x+$", id)
            end
        end)

        it("filters (numbers unquoted) and splits the set consistently", function()
            local _, open = walk("status:'open'", 400)
            local _, not_open = walk("status:!'open'", 400)
            assert.equal(237, open + not_open)
            local _, high = walk("cve.base_score:>=5", 400)
            local _, low = walk("cve.base_score:<5", 400)
            assert.equal(237, high + low)
            assert.is_true(high > 0 and low > 0)
        end)

        it("requires filter and validates limit and after", function()
            assert.equal(400, get(PATH, {}).status)
            assert.equal(400, get(PATH, { { "filter", "status:'open'" }, { "limit", 401 } }).status)
            local bad = get(PATH, { { "filter", "status:'open'" }, { "after", "garbage" } })
            assert.equal(400, bad.status)
            assert.matches("after", bad.json.errors[1].message)
        end)
    end)

    describe("Intel indicators (_marker in the filter)", function()
        it("walks QueryIntelIndicatorEntities by _marker with the >= boundary repeated once per page", function()
            local marker = "0"
            local collected, seen = {}, {}
            local previous_last, first_total, last_total
            for _ = 1, 50 do
                local resp = get("/intel/combined/indicators/v1", {
                    { "filter", "_marker:>='" .. marker .. "'" }, { "sort", "_marker.asc" }, { "limit", 25 } })
                assert.equal(200, resp.status, resp.body)
                local page = resp.json.resources
                local total = resp.json.meta.pagination.total
                first_total = first_total or total
                if last_total then assert.is_true(total <= last_total) end
                last_total = total
                if previous_last then
                    -- `>=` returns the previous page's last entity again, at the top.
                    assert.equal(previous_last, page[1]._marker)
                end
                local added = 0
                for _, ind in ipairs(page) do
                    assert.is_string(ind.indicator)
                    if not seen[ind._marker] then
                        seen[ind._marker] = true
                        collected[#collected + 1] = ind._marker
                        added = added + 1
                    end
                end
                if added == 0 then break end
                previous_last = page[#page]._marker
                marker = previous_last
            end
            assert.equal(180, first_total)
            assert.equal(180, #collected)
            for i = 2, #collected do
                assert.is_true(collected[i - 1] < collected[i], "markers ascend")
            end
            assert.equal(1, last_total) -- only the boundary entity remains
        end)

        it("QueryIntelIndicatorIds pages by offset in the same order", function()
            local all = get("/intel/combined/indicators/v1", { { "limit", 5000 } }).json.resources
            local ids = {}
            for offset = 0, 179, 60 do
                local resp = get("/intel/queries/indicators/v1", { { "limit", 60 }, { "offset", offset } })
                assert.equal(200, resp.status)
                assert.same({ offset = offset, limit = 60, total = 180 }, resp.json.meta.pagination)
                for _, id in ipairs(resp.json.resources) do ids[#ids + 1] = id end
            end
            assert.equal(180, #ids)
            for i, ind in ipairs(all) do
                assert.equal(ind.id, ids[i])
            end
            local typed = get("/intel/queries/indicators/v1", { { "filter", "type:'domain'" }, { "limit", 5000 } })
            local n = 0
            for _, ind in ipairs(all) do
                if ind.type == "domain" then n = n + 1 end
            end
            assert.equal(n, typed.json.meta.pagination.total)
            assert.equal(400, get("/intel/queries/indicators/v1", { { "limit", 5001 } }).status)
        end)
    end)

    describe("Hosts QueryDevicesByFilterScroll (string offset token)", function()
        it("scrolls with the opaque offset until no ids come back", function()
            local ids, seen, offset, total = {}, {}, nil, nil
            for _ = 1, 20 do
                local q = { { "limit", 40 } }
                if offset then q[#q + 1] = { "offset", offset } end
                local resp = get("/devices/queries/devices-scroll/v1", q)
                assert.equal(200, resp.status, resp.body)
                local p = resp.json.meta.pagination
                assert.is_string(p.offset)
                assert.is_number(p.expires_at)
                total = p.total
                if #resp.json.resources == 0 then break end
                for _, id in ipairs(resp.json.resources) do
                    assert.is_nil(seen[id])
                    seen[id] = true
                    ids[#ids + 1] = id
                end
                offset = p.offset
            end
            assert.equal(203, total)
            assert.equal(203, #ids)
            local windows = get("/devices/queries/devices-scroll/v1", { { "filter", "platform_name:'Windows'" },
                                                                        { "limit", 1 } })
            assert.is_true(windows.json.meta.pagination.total < 203)
            local bad = get("/devices/queries/devices-scroll/v1", { { "offset", "not-a-token" } })
            assert.equal(400, bad.status)
        end)
    end)

    describe("Identity Protection GraphQL (cursor)", function()
        local QUERY = [[
            query ($after: Cursor) {
              entities(types: [USER], archived: false, first: 7, after: $after) {
                nodes {
                  primaryDisplayName
                  secondaryDisplayName
                  accounts { ... on ActiveDirectoryAccountDescriptor { domain } }
                }
                pageInfo { hasNextPage endCursor }
              }
            }]]

        local function graphql(query, variables)
            return e:http{ method = "POST", path = "/identity-protection/combined/graphql/v1", token = token,
                           json = cjson.encode({ query = query, variables = variables }) }
        end

        it("pages entities by endCursor until hasNextPage is false, projecting the selection", function()
            local names, variables, pages = {}, nil, 0
            while true do
                local resp = graphql(QUERY, variables)
                assert.equal(200, resp.status, resp.body)
                local ents = resp.json.data.entities
                pages = pages + 1
                for _, node in ipairs(ents.nodes) do
                    local keys = {}
                    for k in pairs(node) do keys[#keys + 1] = k end
                    table.sort(keys)
                    assert.same({ "accounts", "primaryDisplayName", "secondaryDisplayName" }, keys)
                    assert.same({ { domain = "corp.example.com" } }, node.accounts)
                    names[#names + 1] = node.primaryDisplayName
                end
                if not ents.pageInfo.hasNextPage then break end
                variables = { after = ents.pageInfo.endCursor }
            end
            -- The same set in one page of up to 1000.
            local all = graphql(QUERY:gsub("first: 7", "first: 1000"), nil).json.data.entities
            assert.is_false(all.pageInfo.hasNextPage)
            assert.equal(#all.nodes, #names)
            for i, node in ipairs(all.nodes) do
                assert.equal(node.primaryDisplayName, names[i])
            end
            assert.equal(math.ceil(#names / 7), pages)
            local endpoints = graphql("{ entities(types: [ENDPOINT], first: 1000) { nodes { type } } }", nil)
            assert.equal(61, #names + #endpoints.json.data.entities.nodes)
        end)

        it("reports GraphQL errors for bad cursors, syntax and unknown fields", function()
            local bad = graphql(QUERY, { after = "bogus" })
            assert.equal(200, bad.status)
            assert.matches("cursor", bad.json.errors[1].message)
            assert.matches("Cannot query", graphql("{ nope { id } }").json.errors[1].message)
            assert.is_table(graphql("{ entities(first: 2) { nodes { ").json.errors)
            local not_json = e:http{ method = "POST", path = "/identity-protection/combined/graphql/v1", token = token,
                                     json = '{"variables":{}}' }
            assert.equal(400, not_json.status)
        end)
    end)

    describe("seeding", function()
        it("is deterministic for a seed number and fast for 10,000 cases", function()
            local function first_ids(seed_number)
                e:control("seed", { seed = seed_number, cases = 50 })
                return get("/message-center/queries/cases/v1", { { "sort", "case.id.asc" },
                                                                 { "limit", 50 } }).json.resources
            end
            local a = first_ids(11)
            local b = first_ids(11)
            local c = first_ids(12)
            assert.same(a, b)
            assert.are_not.same(a, c)
            local result = e:control("seed", { seed = 1, cases = 10000 })
            assert.equal(10000, result.counts.cases)
            assert.is_true(result.elapsed < 3, "seeding took " .. result.elapsed .. " s")
            print(string.format("\n  seeding 10,000 cases took %.3f s (server side)", result.elapsed))
            local q = get("/message-center/queries/cases/v1", { { "filter", "case.status:'open'" }, { "limit", 500 } })
            assert.equal(200, q.status)
            assert.is_true(q.json.meta.pagination.total > 1000)
            assert.equal(10000, e:control("state", {}).cases)
            -- Seeding cases leaves the other collections alone.
            assert.equal(237, e:control("state", {}).vulnerabilities)
        end)

        it("reset returns to the start configuration's seed, or to nothing", function()
            e:control("reset", {})
            local state = e:control("state", {})
            assert.equal(10, state.cases)
            assert.equal(203, state.devices)
            e:control("reset", { empty = true })
            state = e:control("state", {})
            assert.equal(0, state.cases)
            assert.equal(0, state.entities)
        end)
    end)
end)
