-- Emulator: FQL filtering, sorting and paging of QueryCasesIdsByFilter, checked against answers
-- computed here in plain Lua from the cases fetched through GetCaseEntitiesByIDs.
local emu = require "spec.helpers.emulator"
local cjson = require "cjson"

describe("emulator FQL and sorting", function()
    local e, token, cases

    setup(function()
        e = emu.start()
        e:control("reset", { seed = { seed = 42, cases = 300 } })
        token = e:token()
        cases = e:all_cases(token)
    end)
    teardown(function()
        if e then e:stop() end
    end)

    local function query_all(filter, sort)
        local ids, offset, total = {}, 0
        repeat
            local q = { { "limit", 500 }, { "offset", offset } }
            if filter then q[#q + 1] = { "filter", filter } end
            if sort then q[#q + 1] = { "sort", sort } end
            local resp = e:http{ path = "/message-center/queries/cases/v1", token = token, query = q }
            assert.equal(200, resp.status, filter)
            for _, id in ipairs(resp.json.resources) do ids[#ids + 1] = id end
            total = resp.json.meta.pagination.total
            offset = offset + 500
        until offset >= total
        assert.equal(total, #ids)
        return ids
    end

    local function expected_ids(pred)
        local set = {}
        for _, c in ipairs(cases) do
            if pred(c) then set[#set + 1] = c.id end
        end
        table.sort(set)
        return set
    end

    local function sorted(list)
        local copy = {}
        for i, v in ipairs(list) do copy[i] = v end
        table.sort(copy)
        return copy
    end

    local function any(list, pred)
        for _, v in ipairs(list or {}) do
            if pred(v) then return true end
        end
        return false
    end

    local function check(filter, pred, allow_empty)
        local want = expected_ids(pred)
        if not allow_empty then
            assert.is_true(#want > 0, "test filter selects nothing: " .. filter)
            assert.is_true(#want < #cases or filter:find("now") ~= nil, "test filter selects everything: " .. filter)
        end
        assert.same(want, sorted(query_all(filter)), filter)
    end

    it("seeded the expected number of cases", function()
        assert.equal(300, #cases)
    end)

    it("equality, negation and lists", function()
        check("case.status:'open'", function(c) return c.status == "open" end)
        check("case.status:!'open'", function(c) return c.status ~= "open" end)
        check("case.status:['open','closed']", function(c) return c.status == "open" or c.status == "closed" end)
        check("case.type:!['mdr','rfi']", function(c) return c.type ~= "mdr" and c.type ~= "rfi" end)
        check("case.key:'CS-000010'", function(c) return c.key == "CS-000010" end)
        check("case.id:['" .. cases[3].id .. "','" .. cases[9].id .. "']",
            function(c) return c.id == cases[3].id or c.id == cases[9].id end)
        -- Unquoted values are accepted too.
        check("case.status:closed", function(c) return c.status == "closed" end)
        -- Equality is exact: another case matches nothing.
        check("case.status:'OPEN'", function() return false end, true)
    end)

    it("AND, OR, blanks as AND and parentheses", function()
        check("case.type:'fc:contact'+case.status:'closed'",
            function(c) return c.type == "fc:contact" and c.status == "closed" end)
        check("case.type:'mdr',case.type:'rfi'", function(c) return c.type == "mdr" or c.type == "rfi" end)
        check("(case.status:'open',case.status:'closed')+case.type:'mdr'",
            function(c) return (c.status == "open" or c.status == "closed") and c.type == "mdr" end)
        check("case.type:'mdr'+case.status:'open',case.status:'closed'",
            function(c) return (c.type == "mdr" and c.status == "open") or c.status == "closed" end)
        check("case.status:'open' case.type:'mdr'", function(c) return c.status == "open" and c.type == "mdr" end)
        check("case.status : 'open' + ( case.type:'mdr' , case.type:'rfi' )",
            function(c) return c.status == "open" and (c.type == "mdr" or c.type == "rfi") end)
    end)

    it("date comparisons (ISO strings of one format compare like instants)", function()
        check("case.created_time:>='2024-01-01T00:00:00Z'", function(c) return c.created_time >= "2024-01-01T00:00:00Z" end)
        check("case.created_time:<'2023-06-01'", function(c) return c.created_time < "2023-06-01T00:00:00Z" end)
        check("case.created_time:>'2023-03-01T00:00:00Z'+case.created_time:<='2023-09-30T23:59:59Z'",
            function(c) return c.created_time > "2023-03-01T00:00:00Z" and c.created_time <= "2023-09-30T23:59:59Z" end)
        check("case.last_modified_time:<='2023-04-01T12:00:00Z'",
            function(c) return c.last_modified_time <= "2023-04-01T12:00:00Z" end)
        -- An offset in the value is honoured: 02:00+02:00 is midnight UTC.
        check("case.created_time:>='2024-01-01T02:00:00+02:00'",
            function(c) return c.created_time >= "2024-01-01T00:00:00Z" end)
        local exact = cases[5].created_time
        check("case.created_time:'" .. exact .. "'", function(c) return c.created_time == exact end)
        check("case.created_time:>'now-10000d'", function() return true end)
    end)

    it("wildcards match case-insensitively", function()
        check("case.title:*'*powershell*'", function(c) return c.title:lower():find("powershell", 1, true) ~= nil end)
        check("case.title:*'suspicious*'", function(c) return c.title:lower():sub(1, 10) == "suspicious" end)
        check("case.ip_addresses:*'10.1*'", function(c)
            return any(c.ip_addresses, function(ip) return ip:sub(1, 4) == "10.1" end)
        end)
        check("case.detections.id:*'ldt:*'", function(c) return #c.detections > 0 end)
    end)

    it("quoted values with escapes and UTF-8", function()
        check([[case.assigner.last_name:'O\'Brien']], function(c) return c.assigner.last_name == "O'Brien" end)
        check([[case.title:*'*"mimikatz"*']], function(c) return c.title:find('"mimikatz"', 1, true) ~= nil end)
        check("case.assigner.display_name:'Zoë Martínez'", function(c) return c.assigner.display_name == "Zoë Martínez" end)
        check([[case.assigner.last_name:"O'Brien"]], function(c) return c.assigner.last_name == "O'Brien" end)
    end)

    it("list fields match when any element does; negation when none does", function()
        local host = cases[1].hosts[1] or "host-001"
        check("case.hosts:'" .. host .. "'", function(c) return any(c.hosts, function(h) return h == host end) end)
        local aid
        for _, c in ipairs(cases) do
            if #c.aids > 0 then aid = c.aids[1] break end
        end
        check("case.aids:!'" .. aid .. "'", function(c) return not any(c.aids, function(a) return a == aid end) end)
        check("case.incidents.id:*'inc:*'", function(c) return #c.incidents > 0 end)
    end)

    it("_all searches every text field, case-insensitively", function()
        check("_all:'lovelace'", function(c)
            local a = c.assigner
            return (a.last_name .. a.display_name .. a.uid .. a.email_address):lower():find("lovelace", 1, true) ~= nil
        end)
        check("_all:'host-00'", function(c) return any(c.hosts, function(h) return h:find("host-00", 1, true) end) end)
    end)

    it("activity.body matches cases through their activities", function()
        for _, i in ipairs({ 4, 11 }) do
            local resp = e:http{ method = "POST", path = "/message-center/entities/case-activity/v1", token = token,
                                 json = cjson.encode({ case_id = cases[i].id, type = "comment", user_uuid = "u",
                                                       body = "zebra crossing" }) }
            assert.equal(200, resp.status)
        end
        assert.same(sorted({ cases[4].id, cases[11].id }), sorted(query_all("activity.body:'zebra crossing'")))
        assert.same(sorted({ cases[4].id, cases[11].id }), sorted(query_all("activity.body:*'*ZEBRA*'")))
        -- Adding activities touched last_modified_time: later tests need the current cases.
        cases = e:all_cases(token)
    end)

    it("rejects malformed filters with 400", function()
        for _, bad in ipairs({ "case.status", "case.status:'open'+", "(case.status:'open'", "case.status:'open')",
                               "case.status:['open'", "case.status:>['a','b']", "case.status:'open',,",
                               "case.created_time:>'2024-13-45'", "case.status:[]" }) do
            local resp = e:http{ path = "/message-center/queries/cases/v1", token = token, query = { { "filter", bad } } }
            assert.equal(400, resp.status, bad)
            assert.matches("filter", resp.json.errors[1].message, 1, true)
        end
    end)

    local SORT_FIELDS = {
        ["case.created_time"] = "created_time", ["case.last_modified_time"] = "last_modified_time",
        ["case.status"] = "status", ["case.type"] = "type", ["case.id"] = "id",
    }

    local function expected_order(key, desc)
        local list = {}
        for i, c in ipairs(cases) do list[i] = c end
        table.sort(list, function(a, b)
            if a[key] ~= b[key] then
                if desc then return a[key] > b[key] end
                return a[key] < b[key]
            end
            return a.id < b.id -- ties: id ascending, whatever the direction
        end)
        local ids = {}
        for i, c in ipairs(list) do ids[i] = c.id end
        return ids
    end

    it("sorts by every sortable field, ascending and descending", function()
        for field, key in pairs(SORT_FIELDS) do
            assert.same(expected_order(key, false), query_all(nil, field .. ".asc"), field .. ".asc")
            assert.same(expected_order(key, true), query_all(nil, field .. ".desc"), field .. ".desc")
        end
        assert.same(expected_order("status", true), query_all(nil, "case.status|desc"))
        assert.same(expected_order("type", false), query_all(nil, "case.type"))
        -- Default order: newest first.
        assert.same(expected_order("created_time", true), query_all(nil, nil))
    end)

    it("pages with offset and limit through a filtered, sorted result", function()
        local filter = "case.status:!'closed'"
        local want = {}
        for _, id in ipairs(expected_order("last_modified_time", false)) do
            for _, c in ipairs(cases) do
                if c.id == id and c.status ~= "closed" then want[#want + 1] = id end
            end
        end
        local got, offset = {}, 0
        while true do
            local resp = e:http{ path = "/message-center/queries/cases/v1", token = token, query = {
                { "limit", 17 }, { "offset", offset }, { "filter", filter }, { "sort", "case.last_modified_time.asc" } } }
            assert.equal(#want, resp.json.meta.pagination.total)
            assert.equal(offset, resp.json.meta.pagination.offset)
            if #resp.json.resources == 0 then break end
            for _, id in ipairs(resp.json.resources) do got[#got + 1] = id end
            offset = offset + 17
        end
        assert.same(want, got)
    end)
end)
