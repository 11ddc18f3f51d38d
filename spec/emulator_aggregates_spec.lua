-- Emulator: AggregateCases, checked against answers computed here in plain Lua from the cases
-- fetched through the API.
local cjson = require "cjson"
local emu = require "spec.helpers.emulator"

-- Epoch milliseconds of "YYYY-MM-DDTHH:MM:SSZ", by counting days (independent of os.time's zone).
local function iso_ms(iso)
    local y, mo, d, h, mi, s = iso:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z$")
    y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
    local days = 0
    for year = 1970, y - 1 do
        days = days + ((year % 4 == 0 and (year % 100 ~= 0 or year % 400 == 0)) and 366 or 365)
    end
    local month_days = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
    if (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) then month_days[2] = 29 end
    for m = 1, mo - 1 do days = days + month_days[m] end
    days = days + d - 1
    return ((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60000 + tonumber(s) * 1000
end

describe("emulator aggregates", function()
    local e, token, cases

    setup(function()
        e = emu.start()
        e:control("reset", { seed = { seed = 99, cases = 400 } })
        token = e:token()
        cases = e:all_cases(token)
    end)
    teardown(function()
        if e then e:stop() end
    end)

    local function aggregate(body)
        return e:http{ method = "POST", path = "/message-center/aggregates/cases/GET/v1", token = token,
                       json = cjson.encode(body) }
    end

    local function one(spec)
        local resp = aggregate({ spec })
        assert.equal(200, resp.status, resp.body)
        assert.equal(1, #resp.json.resources)
        return resp.json.resources[1]
    end

    local function count_by(list, key_of)
        local counts = {}
        for _, c in ipairs(list) do
            local seen = {}
            for _, k in ipairs(key_of(c)) do
                if not seen[k] then
                    seen[k] = true
                    counts[k] = (counts[k] or 0) + 1
                end
            end
        end
        return counts
    end

    local function ordered(counts, by)
        local list = {}
        for k, n in pairs(counts) do list[#list + 1] = { label = k, count = n } end
        table.sort(list, function(a, b)
            if by == "count" and a.count ~= b.count then return a.count > b.count end
            return a.label < b.label
        end)
        return list
    end

    local function buckets_of(result)
        local out = {}
        for i, b in ipairs(result.buckets) do out[i] = { label = b.label, count = b.count } end
        return out
    end

    local function where(pred)
        local out = {}
        for _, c in ipairs(cases) do
            if pred(c) then out[#out + 1] = c end
        end
        return out
    end

    it("terms: counts per value, by count descending, with size and sum_other_doc_count", function()
        local want = ordered(count_by(cases, function(c) return { c.status } end), "count")
        local r = one({ name = "by_status", type = "terms", field = "case.status" })
        assert.equal("by_status", r.name)
        assert.same(want, buckets_of(r))
        assert.equal(0, r.sum_other_doc_count)
        local top2 = one({ name = "top", type = "terms", field = "case.type", size = 2 })
        local types = ordered(count_by(cases, function(c) return { c.type } end), "count")
        assert.same({ types[1], types[2] }, buckets_of(top2))
        local other = 0
        for i = 3, #types do other = other + types[i].count end
        assert.equal(other, top2.sum_other_doc_count)
    end)

    it("terms: _term sort, min_doc_count, list fields and missing", function()
        local by_term = one({ name = "t", type = "terms", field = "case.type", sort = "_term|asc" })
        assert.same(ordered(count_by(cases, function(c) return { c.type } end), "term"), buckets_of(by_term))
        local desc = one({ name = "t", type = "terms", field = "case.type", sort = "_term|desc" })
        assert.equal(by_term.buckets[1].label, desc.buckets[#desc.buckets].label)

        local hosts = ordered(count_by(cases, function(c) return c.hosts end), "count")
        local threshold = hosts[5].count
        local want = {}
        for _, b in ipairs(hosts) do
            if b.count >= threshold then want[#want + 1] = b end
        end
        assert.is_true(#want < #hosts)
        local r = one({ name = "h", type = "terms", field = "case.hosts", size = 100, min_doc_count = threshold })
        assert.same(want, buckets_of(r))

        local no_hosts = #where(function(c) return #c.hosts == 0 end)
        local m = one({ name = "h", type = "terms", field = "case.hosts", size = 500, missing = "none" })
        local found
        for _, b in ipairs(m.buckets) do
            if b.label == "none" then found = b.count end
        end
        assert.equal(no_hosts, found)
    end)

    it("filter and q narrow the documents", function()
        local open = where(function(c) return c.status == "open" end)
        local r = one({ name = "f", type = "terms", field = "case.type", filter = "case.status:'open'", size = 20 })
        assert.same(ordered(count_by(open, function(c) return { c.type } end), "count"), buckets_of(r))
        local ps = where(function(c) return c.title:lower():find("powershell", 1, true) ~= nil end)
        local q = one({ name = "q", type = "terms", field = "case.status", q = "PowerShell", size = 20 })
        assert.same(ordered(count_by(ps, function(c) return { c.status } end), "count"), buckets_of(q))
    end)

    it("date_histogram by month fills empty months and sorts by key", function()
        local counts = count_by(cases, function(c) return { c.created_time:sub(1, 7) } end)
        local months = {}
        for k in pairs(counts) do months[#months + 1] = k end
        table.sort(months)
        local want = {}
        local y, m = tonumber(months[1]:sub(1, 4)), tonumber(months[1]:sub(6, 7))
        while true do
            local key = string.format("%04d-%02d", y, m)
            want[#want + 1] = { key_as_string = key .. "-01T00:00:00.000Z", count = counts[key] or 0,
                                label = iso_ms(key .. "-01T00:00:00Z") }
            if key == months[#months] then break end
            m = m + 1
            if m > 12 then y, m = y + 1, 1 end
        end
        local r = one({ name = "monthly", type = "date_histogram", field = "case.created_time", interval = "month" })
        local got = {}
        for i, b in ipairs(r.buckets) do got[i] = { key_as_string = b.key_as_string, count = b.count, label = b.label } end
        assert.same(want, got)
    end)

    it("date_histogram honours time_zone and min_doc_count", function()
        -- Years in UTC-05:00: a case before 05:00 UTC on 1 January belongs to the previous year.
        local counts = count_by(cases, function(c)
            local year = tonumber(c.created_time:sub(1, 4))
            if c.created_time < string.format("%04d-01-01T05:00:00Z", year) then year = year - 1 end
            return { string.format("%04d-01-01T00:00:00.000-05:00", year) }
        end)
        local r = one({ name = "y", type = "date_histogram", field = "case.created_time", interval = "year",
                        time_zone = "-05:00", min_doc_count = 1 })
        local got = {}
        for _, b in ipairs(r.buckets) do got[b.key_as_string] = b.count end
        assert.same(counts, got)
        local bad = aggregate({ { name = "y", type = "date_histogram", field = "case.created_time", interval = "year",
                                  time_zone = "Mars/Olympus" } })
        assert.equal(400, bad.status)
    end)

    it("date_range counts [from, to) ranges", function()
        local ranges = { { from = "2023-01-01T00:00:00Z", to = "2023-07-01T00:00:00Z" },
                         { from = "2023-07-01T00:00:00Z", to = "2024-06-15T12:00:00Z" },
                         { from = "2024-06-15T12:00:00Z" } }
        local r = one({ name = "dr", type = "date_range", field = "case.created_time", date_ranges = ranges })
        assert.equal(3, #r.buckets)
        for i, range in ipairs(ranges) do
            local n = #where(function(c)
                return c.created_time >= range.from and (range.to == nil or c.created_time < range.to)
            end)
            assert.equal(n, r.buckets[i].count, "range " .. i)
            assert.equal(iso_ms(range.from), r.buckets[i].from)
            if range.to then assert.equal(iso_ms(range.to), r.buckets[i].to) end
        end
        assert.equal("2023-01-01T00:00:00.000Z", r.buckets[1].string_from)
    end)

    it("range buckets numeric (epoch millisecond) values", function()
        local cut = iso_ms("2024-01-01T00:00:00Z")
        local r = one({ name = "r", type = "range", field = "case.created_time",
                        ranges = { { To = cut }, { From = cut } } })
        assert.equal(#where(function(c) return c.created_time < "2024-01-01T00:00:00Z" end), r.buckets[1].count)
        assert.equal(#where(function(c) return c.created_time >= "2024-01-01T00:00:00Z" end), r.buckets[2].count)
        assert.equal(cut, r.buckets[2].from)
    end)

    it("cardinality, max, min, avg, sum", function()
        local statuses = 0
        for _ in pairs(count_by(cases, function(c) return { c.status } end)) do statuses = statuses + 1 end
        assert.equal(statuses, one({ name = "c", type = "cardinality", field = "case.status" }).buckets[1].value)
        local hosts = 0
        for _ in pairs(count_by(cases, function(c) return c.hosts end)) do hosts = hosts + 1 end
        assert.equal(hosts, one({ name = "c", type = "cardinality", field = "case.hosts" }).buckets[1].value)

        local max, min, sum = "", "9999", 0
        for _, c in ipairs(cases) do
            if c.created_time > max then max = c.created_time end
            if c.created_time < min then min = c.created_time end
            sum = sum + iso_ms(c.created_time)
        end
        local rmax = one({ name = "mx", type = "max", field = "case.created_time" }).buckets[1]
        assert.equal(iso_ms(max), rmax.value)
        assert.equal(max:sub(1, 19) .. ".000Z", rmax.value_as_string)
        assert.equal(iso_ms(min), one({ name = "mn", type = "min", field = "case.created_time" }).buckets[1].value)
        local ravg = one({ name = "a", type = "avg", field = "case.created_time" }).buckets[1]
        assert.is_true(math.abs(ravg.value - sum / #cases) < 1, "avg")
        local rsum = one({ name = "s", type = "sum", field = "case.created_time" }).buckets[1]
        assert.is_true(math.abs(rsum.value - sum) / sum < 1e-12, "sum")
        -- Metrics over nothing: no value for max, 0 for sum.
        local empty = one({ name = "e", type = "max", field = "case.created_time", filter = "case.status:'nope'" })
        assert.is_nil(empty.buckets[1].value)
    end)

    it("percentiles interpolate between closest ranks", function()
        local values = {}
        for i, c in ipairs(cases) do values[i] = iso_ms(c.created_time) end
        table.sort(values)
        local function pct(p)
            local rank = p / 100 * (#values - 1) + 1
            local lo = math.floor(rank)
            local hi = math.min(lo + 1, #values)
            return values[lo] + (rank - lo) * (values[hi] - values[lo])
        end
        local r = one({ name = "p", type = "percentiles", field = "case.created_time" })
        local wanted = { 1, 5, 25, 50, 75, 95, 99 }
        assert.equal(#wanted, #r.buckets)
        for i, p in ipairs(wanted) do
            assert.equal(tostring(p), tostring(r.buckets[i].label))
            assert.is_true(math.abs(r.buckets[i].value - pct(p)) < 1, "p" .. p)
        end
        local custom = one({ name = "p", type = "percentiles", field = "case.created_time", percents = { 10, 90 } })
        assert.equal(2, #custom.buckets)
        assert.is_true(math.abs(custom.buckets[2].value - pct(90)) < 1)
    end)

    it("nests up to 3 levels of sub_aggregates; a 4th is a 400", function()
        local level3 = { name = "newest", type = "max", field = "case.created_time" }
        local level2 = { name = "years", type = "date_histogram", field = "case.created_time", interval = "year",
                         min_doc_count = 1, sub_aggregates = { level3 } }
        local level1 = { name = "types", type = "terms", field = "case.type", size = 10, sub_aggregates = { level2 } }
        local top = { name = "statuses", type = "terms", field = "case.status", sub_aggregates = { level1 } }
        local r = one(top)
        for _, sb in ipairs(r.buckets) do
            local in_status = where(function(c) return c.status == sb.label end)
            local types = sb.sub_aggregates[1]
            assert.equal("types", types.name)
            assert.same(ordered(count_by(in_status, function(c) return { c.type } end), "count"), buckets_of(types))
            for _, tb in ipairs(types.buckets) do
                for _, yb in ipairs(tb.sub_aggregates[1].buckets) do
                    local year = yb.key_as_string:sub(1, 4)
                    local newest = ""
                    for _, c in ipairs(in_status) do
                        if c.type == tb.label and c.created_time:sub(1, 4) == year and c.created_time > newest then
                            newest = c.created_time
                        end
                    end
                    assert.equal(iso_ms(newest), yb.sub_aggregates[1].buckets[1].value)
                end
            end
        end
        local level4 = { name = "deep", type = "terms", field = "case.key" }
        level2.sub_aggregates = { { name = "l3", type = "terms", field = "case.id", sub_aggregates = { level4 } } }
        local resp = aggregate({ top })
        assert.equal(400, resp.status)
        assert.matches("sub_aggregates", resp.json.errors[1].message)
    end)

    it("several aggregate requests in one call", function()
        local resp = aggregate({ { name = "a", type = "terms", field = "case.status" },
                                 { name = "b", type = "cardinality", field = "case.type" } })
        assert.equal(200, resp.status)
        assert.equal("a", resp.json.resources[1].name)
        assert.equal("b", resp.json.resources[2].name)
    end)

    it("validates aggregate requests with 400", function()
        local bad = {
            { {}, "type" },
            { { type = "bogus", field = "case.status" }, "aggregation type" },
            { { type = "terms" }, "field" },
            { { type = "terms", field = "case.nope" }, "field" },
            { { type = "date_histogram", field = "case.created_time" }, "interval" },
            { { type = "date_histogram", field = "case.created_time", interval = "fortnight" }, "interval" },
            { { type = "terms", field = "case.status", sort = "_count" }, "sort" },
            { { type = "max", field = "case.status" }, "numeric" },
            { { type = "max", field = "case.created_time", sub_aggregates = { { type = "terms", field = "case.type" } } },
              "sub_aggregates" },
            { { type = "date_range", field = "case.created_time" }, "date_ranges" },
            { { type = "date_range", field = "case.created_time", date_ranges = { { from = "junk" } } }, "ISO" },
            { { type = "range", field = "case.created_time" }, "ranges" },
            { { type = "terms", field = "case.status", filter = "case.status:" }, "filter" },
        }
        for _, case in ipairs(bad) do
            local resp = aggregate({ case[1] })
            assert.equal(400, resp.status, case[2])
            assert.matches(case[2], resp.json.errors[1].message, 1, true)
        end
        local not_list = e:http{ method = "POST", path = "/message-center/aggregates/cases/GET/v1", token = token,
                                 json = '{"type":"terms","field":"case.status"}' }
        assert.equal(400, not_list.status)
        assert.equal(400, aggregate({}).status)
    end)
end)
