-- AggregateCases: Elasticsearch-style aggregations over the case fields, shaped as the API's
-- MsaAggregationResult: {name, buckets: [{label, count, value, from, to, key_as_string, ...,
-- sub_aggregates}], sum_other_doc_count, doc_count_error_upper_bound}.
--
-- Conventions (see the report): dates aggregate as epoch milliseconds; bucket ranges are
-- [from, to); percentiles interpolate linearly between closest ranks; metric results are a single
-- bucket {label = name, count = documents with a value, value}; percentiles one bucket per percent.
local cases = require "emulator.cases"
local envelope = require "emulator.envelope"
local fql = require "emulator.fql"
local json = require "emulator.json"
local store = require "emulator.store"
local timeutil = require "emulator.timeutil"

local M = {}

local array = json.array
local floor = math.floor

local BUCKET_TYPES = { terms = true, date_histogram = true, date_range = true, range = true }
local METRIC_TYPES = { cardinality = true, max = true, min = true, avg = true, sum = true, percentiles = true }
local NUMERIC_TYPES = { max = true, min = true, avg = true, sum = true, percentiles = true, range = true }
local SORTS = { ["_count|desc"] = true, ["_count|asc"] = true, ["_term|asc"] = true, ["_term|desc"] = true }
local INTERVALS = {
    year = "year", month = "month", week = "week", day = "day", hour = "hour", minute = "minute",
    ["1y"] = "year", ["1M"] = "month", ["1w"] = "week", ["1d"] = "day", ["1h"] = "hour", ["1m"] = "minute",
}
local DEFAULT_PERCENTS = { 1, 5, 25, 50, 75, 95, 99 }
local MAX_DEPTH = 3

local function fail(message)
    error({ agg = true, message = message }, 0)
end

local function is_null(v)
    return v == nil or v == json.null
end

local function optional_integer(spec, key, min)
    local v = spec[key]
    if is_null(v) then return nil end
    if type(v) ~= "number" or v ~= floor(v) or v < min then
        fail(string.format("%s must be an integer >= %d", key, min))
    end
    return v
end

local function optional_string(spec, key)
    local v = spec[key]
    if is_null(v) or v == "" then return nil end
    if type(v) ~= "string" then
        fail(key .. " must be a string")
    end
    return v
end

local function parse_date(value, what)
    local t = type(value) == "string" and timeutil.parse(value)
    if not t then
        fail(what .. " must be an ISO 8601 date, got '" .. tostring(value) .. "'")
    end
    return t
end

-- Validates one aggregate request (recursively) into a normalised plan; raises {agg, message}.
local function plan_of(spec, depth)
    if type(spec) ~= "table" or spec[1] ~= nil then
        fail("each aggregate request must be a JSON object")
    end
    local plan = {}
    plan.type = optional_string(spec, "type")
    if not plan.type then
        fail("type is required")
    end
    if not BUCKET_TYPES[plan.type] and not METRIC_TYPES[plan.type] then
        fail("unknown aggregation type '" .. plan.type .. "'; valid: terms, date_histogram, date_range, "
            .. "range, cardinality, max, min, avg, sum, percentiles")
    end
    plan.field = optional_string(spec, "field")
    if not plan.field then
        fail("field is required")
    end
    plan.def = cases.fields[plan.field]
    if not plan.def or plan.def.kind == "text" then
        fail("field '" .. plan.field .. "' cannot be aggregated")
    end
    if NUMERIC_TYPES[plan.type] and plan.def.kind ~= "date" and plan.def.kind ~= "number" then
        fail(plan.type .. " needs a numeric or date field, '" .. plan.field .. "' is neither")
    end
    if plan.type == "date_histogram" and plan.def.kind ~= "date" then
        fail("date_histogram needs a date field, '" .. plan.field .. "' is not one")
    end
    if plan.type == "date_range" and plan.def.kind ~= "date" then
        fail("date_range needs a date field, '" .. plan.field .. "' is not one")
    end
    plan.name = optional_string(spec, "name") or plan.field
    local filter_text = optional_string(spec, "filter")
    local pred, err = fql.compile(filter_text, cases.fields)
    if not pred then fail(err) end
    local q = optional_string(spec, "q")
    local text_pred = fql.full_text(q, cases.texts)
    plan.pred = function(doc) return pred(doc) and text_pred(doc) end
    plan.has_filter = (filter_text ~= nil or q ~= nil)
    plan.size = optional_integer(spec, "size", 0)
    if plan.size == 0 then plan.size = nil end
    plan.min_doc_count = optional_integer(spec, "min_doc_count", 0)
    plan.max_doc_count = optional_integer(spec, "max_doc_count", 0)
    plan.missing = optional_string(spec, "missing")
    plan.sort = optional_string(spec, "sort")
    if plan.sort and not SORTS[plan.sort] then
        fail("invalid sort '" .. plan.sort .. "'; use _count|desc, _count|asc, _term|asc or _term|desc")
    end
    local tz = optional_string(spec, "time_zone")
    plan.offset = timeutil.parse_offset(tz)
    if not plan.offset then
        fail("unsupported time_zone '" .. tz .. "'; use UTC or a fixed offset such as +02:00")
    end
    plan.offset_text = tz
    for _, key in ipairs({ "include", "exclude" }) do
        if optional_string(spec, key) then
            fail(key .. " is not supported by the emulator")
        end
    end
    if not is_null(spec.from) and spec.from ~= 0 then
        fail("from is not supported by the emulator")
    end
    if not is_null(spec.filters_spec) then
        fail("filters_spec is not supported by the emulator")
    end

    if plan.type == "date_histogram" then
        local interval = optional_string(spec, "interval")
        if not interval then
            fail("interval is required for date_histogram")
        end
        plan.interval = INTERVALS[interval]
        if not plan.interval then
            fail("invalid interval '" .. interval .. "'; valid: year, month, week, day, hour, minute")
        end
        if not is_null(spec.extended_bounds) then
            local b = spec.extended_bounds
            if type(b) ~= "table" then fail("extended_bounds must be an object") end
            plan.bounds = { parse_date(b.min, "extended_bounds.min"), parse_date(b.max, "extended_bounds.max") }
        end
    elseif plan.type == "date_range" then
        if type(spec.date_ranges) ~= "table" or #spec.date_ranges == 0 then
            fail("date_ranges is required for date_range")
        end
        plan.ranges = {}
        for i, r in ipairs(spec.date_ranges) do
            if type(r) ~= "table" or (is_null(r.from) and is_null(r.to)) then
                fail(string.format("date_ranges[%d] needs from and/or to", i - 1))
            end
            plan.ranges[i] = {
                from = not is_null(r.from) and parse_date(r.from, "date_ranges.from") or nil,
                to = not is_null(r.to) and parse_date(r.to, "date_ranges.to") or nil,
            }
        end
    elseif plan.type == "range" then
        if type(spec.ranges) ~= "table" or #spec.ranges == 0 then
            fail("ranges is required for range")
        end
        plan.ranges = {}
        for i, r in ipairs(spec.ranges) do
            local from, to = r.From, r.To
            if type(r) ~= "table" or (is_null(from) and is_null(to)) then
                fail(string.format("ranges[%d] needs From and/or To", i - 1))
            end
            if (not is_null(from) and type(from) ~= "number") or (not is_null(to) and type(to) ~= "number") then
                fail(string.format("ranges[%d] From and To must be numbers", i - 1))
            end
            plan.ranges[i] = { from = not is_null(from) and from or nil, to = not is_null(to) and to or nil }
        end
    elseif plan.type == "percentiles" then
        plan.percents = DEFAULT_PERCENTS
        if not is_null(spec.percents) then
            if type(spec.percents) ~= "table" or #spec.percents == 0 then
                fail("percents must be a non-empty list")
            end
            for _, p in ipairs(spec.percents) do
                if type(p) ~= "number" or p < 0 or p > 100 then
                    fail("percents must be numbers between 0 and 100")
                end
            end
            plan.percents = spec.percents
        end
    end

    plan.subs = {}
    local subs = spec.sub_aggregates
    if not is_null(subs) then
        if type(subs) ~= "table" then
            fail("sub_aggregates must be a list")
        end
        -- The Message Center docs' own Uber example sends "sub_aggregates": [null]: null entries are skipped.
        local given = subs
        subs = {}
        for i = 1, #given do
            if not is_null(given[i]) then subs[#subs + 1] = given[i] end
        end
        if #subs > 0 then
            if METRIC_TYPES[plan.type] then
                fail("a " .. plan.type .. " aggregation cannot have sub_aggregates")
            end
            if depth >= MAX_DEPTH then
                fail(string.format("at most %d levels of nested sub_aggregates are allowed", MAX_DEPTH))
            end
            for i, sub in ipairs(subs) do
                plan.subs[i] = plan_of(sub, depth + 1)
            end
        end
    end
    return plan
end

-- Aggregation values of a document: strings as they are, dates as epoch milliseconds.
local function values_of(plan, doc)
    local v = plan.def.get(doc)
    if type(v) ~= "table" then
        v = { v }
    end
    local out, seen = {}, {}
    for _, x in ipairs(v) do
        if x ~= nil and x ~= json.null then
            if plan.def.kind == "date" then
                local t = fql.epoch(x)
                x = t and t * 1000 or nil
            end
            if x ~= nil and not seen[x] then
                seen[x] = true
                out[#out + 1] = x
            end
        end
    end
    if #out == 0 and plan.missing then
        local m = plan.missing
        if plan.def.kind == "date" then
            local t = timeutil.parse(m)
            m = t and t * 1000 or nil
        elseif plan.def.kind == "number" then
            m = tonumber(m)
        end
        if m ~= nil then out[1] = m end
    end
    return out
end

local run

local function add_subs(plan, bucket, docs)
    if #plan.subs > 0 then
        local results = array()
        for i, sub in ipairs(plan.subs) do
            results[i] = run(sub, docs)
        end
        bucket.sub_aggregates = results
    end
end

local function key_string(plan, key)
    if plan.def.kind == "date" then
        return timeutil.format_ms(key / 1000, plan.offset)
    end
    return nil
end

local function less_key(a, b)
    if type(a) == type(b) then return a < b end
    return tostring(a) < tostring(b)
end

local function sort_buckets(list, sort)
    local by, dir = sort:match("^(_%a+)|(%a+)$")
    table.sort(list, function(a, b)
        if by == "_count" and a.count ~= b.count then
            if dir == "desc" then return a.count > b.count end
            return a.count < b.count
        end
        if a.key == b.key then return false end
        if by == "_term" and dir == "desc" then return less_key(b.key, a.key) end
        return less_key(a.key, b.key)
    end)
end

local function count_filter(plan, list, default_min)
    local min = plan.min_doc_count or default_min
    local out = {}
    for _, b in ipairs(list) do
        if b.count >= min and (not plan.max_doc_count or b.count <= plan.max_doc_count) then
            out[#out + 1] = b
        end
    end
    return out
end

local function grouped(plan, docs, key_of)
    local groups, order = {}, {}
    for _, doc in ipairs(docs) do
        local keys_seen = {}
        for _, v in ipairs(values_of(plan, doc)) do
            local key = key_of(v)
            if not keys_seen[key] then
                keys_seen[key] = true
                local g = groups[key]
                if not g then
                    g = { key = key, count = 0, docs = {} }
                    groups[key] = g
                    order[#order + 1] = g
                end
                g.count = g.count + 1
                g.docs[#g.docs + 1] = doc
            end
        end
    end
    return groups, order
end

local function terms(plan, docs, result)
    local _, list = grouped(plan, docs, function(v) return v end)
    list = count_filter(plan, list, 1)
    sort_buckets(list, plan.sort or "_count|desc")
    local size = plan.size or 10
    local other = 0
    for i = size + 1, #list do
        other = other + list[i].count
    end
    for i = 1, math.min(size, #list) do
        local g = list[i]
        local bucket = { label = g.key, count = g.count, key_as_string = key_string(plan, g.key) }
        add_subs(plan, bucket, g.docs)
        result.buckets[i] = bucket
    end
    result.sum_other_doc_count = other
    result.doc_count_error_upper_bound = 0
end

local function date_histogram(plan, docs, result)
    local function bucket_of(ms)
        return timeutil.floor_to(ms / 1000, plan.interval, plan.offset) * 1000
    end
    local groups, list = grouped(plan, docs, bucket_of)
    if (plan.min_doc_count or 0) == 0 and (#list > 0 or plan.bounds) then
        -- Empty buckets between the first and last (or the extended bounds), as Elasticsearch does.
        local lo, hi = math.huge, -math.huge
        for _, g in ipairs(list) do
            lo, hi = math.min(lo, g.key), math.max(hi, g.key)
        end
        if plan.bounds then
            lo = math.min(lo, bucket_of(plan.bounds[1] * 1000))
            hi = math.max(hi, bucket_of(plan.bounds[2] * 1000))
        end
        local t = lo
        while t <= hi do
            if not groups[t] then
                local g = { key = t, count = 0, docs = {} }
                groups[t] = g
                list[#list + 1] = g
            end
            t = timeutil.next_bucket(t / 1000, plan.interval, plan.offset) * 1000
        end
    end
    list = count_filter(plan, list, 0)
    sort_buckets(list, plan.sort or "_term|asc")
    for i, g in ipairs(list) do
        local bucket = { label = g.key, count = g.count, key_as_string = key_string(plan, g.key) }
        add_subs(plan, bucket, g.docs)
        result.buckets[i] = bucket
    end
end

local function bound_text(v, fmt)
    if v == nil then return "*" end
    return fmt(v)
end

-- date_range bounds were parsed to epoch seconds; range bounds are numbers (milliseconds on dates).
local function ranges(plan, docs, result, is_date)
    local list = {}
    for i, r in ipairs(plan.ranges) do
        local from = r.from and (is_date and r.from * 1000 or r.from)
        local to = r.to and (is_date and r.to * 1000 or r.to)
        local bucket = { count = 0, docs = {}, from = from, to = to }
        for _, doc in ipairs(docs) do
            for _, v in ipairs(values_of(plan, doc)) do
                if (from == nil or v >= from) and (to == nil or v < to) then
                    bucket.count = bucket.count + 1
                    bucket.docs[#bucket.docs + 1] = doc
                    break
                end
            end
        end
        local fmt
        if is_date then
            fmt = function(ms) return timeutil.format_ms(ms / 1000, plan.offset) end
            bucket.string_from = from and fmt(from) or nil
            bucket.string_to = to and fmt(to) or nil
        else
            fmt = function(n) return string.format("%.1f", n) end
        end
        bucket.label = bound_text(from, fmt) .. "-" .. bound_text(to, fmt)
        bucket.key = i
        list[i] = bucket
    end
    if plan.min_doc_count or plan.max_doc_count then
        list = count_filter(plan, list, 0)
    end
    for i, b in ipairs(list) do
        local bucket = { label = b.label, count = b.count, from = b.from, to = b.to,
                         string_from = b.string_from, string_to = b.string_to }
        add_subs(plan, bucket, b.docs)
        result.buckets[i] = bucket
    end
end

local function percentile(sorted, p)
    local n = #sorted
    if n == 1 then return sorted[1] end
    local rank = p / 100 * (n - 1) + 1
    local lo = floor(rank)
    local hi = math.min(lo + 1, n)
    return sorted[lo] + (rank - lo) * (sorted[hi] - sorted[lo])
end

local function metric(plan, docs, result)
    local values, with_value, distinct, n_distinct = {}, 0, {}, 0
    for _, doc in ipairs(docs) do
        local vs = values_of(plan, doc)
        if #vs > 0 then with_value = with_value + 1 end
        for _, v in ipairs(vs) do
            values[#values + 1] = v
            if not distinct[v] then
                distinct[v] = true
                n_distinct = n_distinct + 1
            end
        end
    end
    local is_date = plan.def.kind == "date"
    local function bucket(label, value)
        local b = { label = label, count = with_value, value = value }
        if is_date and value ~= nil and plan.type ~= "cardinality" and plan.type ~= "sum" then
            b.value_as_string = timeutil.format_ms(value / 1000, plan.offset)
        end
        return b
    end
    local t = plan.type
    if t == "cardinality" then
        result.buckets[1] = bucket(plan.name, n_distinct)
    elseif t == "sum" then
        local s = 0
        for _, v in ipairs(values) do s = s + v end
        result.buckets[1] = bucket(plan.name, s)
    elseif t == "max" or t == "min" or t == "avg" then
        local value
        if #values > 0 then
            if t == "avg" then
                local s = 0
                for _, v in ipairs(values) do s = s + v end
                value = s / #values
            else
                value = values[1]
                for _, v in ipairs(values) do
                    if (t == "max" and v > value) or (t == "min" and v < value) then value = v end
                end
            end
        end
        result.buckets[1] = bucket(plan.name, value)
    else
        table.sort(values)
        for i, p in ipairs(plan.percents) do
            result.buckets[i] = bucket(string.format("%g", p), #values > 0 and percentile(values, p) or nil)
        end
    end
end

run = function(plan, docs)
    if plan.has_filter then
        local kept = {}
        for _, d in ipairs(docs) do
            if plan.pred(d) then kept[#kept + 1] = d end
        end
        docs = kept
    end
    local result = { name = plan.name, buckets = array() }
    if plan.type == "terms" then
        terms(plan, docs, result)
    elseif plan.type == "date_histogram" then
        date_histogram(plan, docs, result)
    elseif plan.type == "date_range" then
        ranges(plan, docs, result, true)
    elseif plan.type == "range" then
        ranges(plan, docs, result, false)
    else
        metric(plan, docs, result)
    end
    return result
end

function M.aggregate(req)
    local body = req.json
    if type(body) ~= "table" or (next(body) ~= nil and body[1] == nil) then
        return envelope.error(400, "request body must be a JSON list of aggregate requests")
    end
    if #body == 0 then
        return envelope.error(400, "at least one aggregate request is required")
    end
    local ok, plans = pcall(function()
        local list = {}
        for i, spec in ipairs(body) do
            list[i] = plan_of(spec, 0)
        end
        return list
    end)
    if not ok then
        if type(plans) == "table" and plans.agg then
            return envelope.error(400, plans.message)
        end
        error(plans, 0)
    end
    local results = array()
    for i, plan in ipairs(plans) do
        results[i] = run(plan, store.data.cases)
    end
    return envelope.send_json(200, envelope.envelope(results))
end

return M
