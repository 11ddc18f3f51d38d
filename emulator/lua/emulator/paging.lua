-- The deep-pagination styles other Falcon collections use, over seeded data:
--   Spotlight queryVulnerabilities     `after` token      GET /spotlight/queries/vulnerabilities/v1
--   Intel QueryIntelIndicatorEntities  `_marker` in FQL   GET /intel/combined/indicators/v1
--   Intel QueryIntelIndicatorIds       offset (ids only)  GET /intel/queries/indicators/v1
--   Hosts QueryDevicesByFilterScroll   string offset      GET /devices/queries/devices-scroll/v1
-- (GraphQL cursors are in emulator.graphql.)
local envelope = require "emulator.envelope"
local fql = require "emulator.fql"
local json = require "emulator.json"
local query = require "emulator.query"
local store = require "emulator.store"

local M = {}

local array = json.array

local function field(key)
    return function(doc) return doc[key] end
end

local function nested(key, sub)
    return function(doc) return doc[key] and doc[key][sub] end
end

M.vulnerability_fields = {
    id = { kind = "string", get = field("id") },
    aid = { kind = "string", get = field("aid") },
    cid = { kind = "string", get = field("cid") },
    status = { kind = "string", get = field("status") },
    created_timestamp = { kind = "date", get = field("created_timestamp") },
    updated_timestamp = { kind = "date", get = field("updated_timestamp") },
    ["cve.id"] = { kind = "string", get = nested("cve", "id") },
    ["cve.severity"] = { kind = "string", get = nested("cve", "severity") },
    ["cve.base_score"] = { kind = "number", get = nested("cve", "base_score") },
    last_seen_within = { kind = "within_days", get = field("last_seen") },
}
local VULN_SORT = { created_timestamp = true, updated_timestamp = true, ["cve.base_score"] = true,
                    ["cve.id"] = true, status = true, id = true }

M.indicator_fields = {
    id = { kind = "string", get = field("id") },
    indicator = { kind = "string", get = field("indicator") },
    type = { kind = "string", get = field("type") },
    malicious_confidence = { kind = "string", get = field("malicious_confidence") },
    published_date = { kind = "number", get = field("published_date") },
    last_updated = { kind = "number", get = field("last_updated") },
    _marker = { kind = "string", get = field("_marker") },
    deleted = { kind = "bool", get = field("deleted") },
}
local INDICATOR_SORT = { _marker = true, published_date = true, last_updated = true, id = true }

M.device_fields = {
    device_id = { kind = "string", get = field("device_id") },
    cid = { kind = "string", get = field("cid") },
    hostname = { kind = "string", get = field("hostname") },
    platform_name = { kind = "string", get = field("platform_name") },
    status = { kind = "string", get = field("status") },
    local_ip = { kind = "string", get = field("local_ip") },
    first_seen = { kind = "date", get = field("first_seen") },
    last_seen = { kind = "date", get = field("last_seen") },
}
local DEVICE_SORT = { hostname = true, first_seen = true, last_seen = true, platform_name = true,
                      device_id = true, status = true }
M.device_sort = DEVICE_SORT

-- Opaque position tokens: base64 of "<kind>:<position>", so clients cannot do arithmetic on them
-- and a token of one style is refused by another.
local function encode_token(kind, position)
    return (ngx.encode_base64(kind .. ":" .. position):gsub("=", ""))
end

local function decode_token(kind, token)
    local padded = token .. string.rep("=", (4 - #token % 4) % 4)
    local text = ngx.decode_base64(padded)
    local position = text and text:match("^" .. kind .. ":(%d+)$")
    return position and tonumber(position)
end

-- Where a page starts: 0, or the position in the token passed as `param` (nil and a message if bad).
local function token_position(args, param, kind)
    local token, err = query.single(args, param)
    if err then return nil, err end
    if token == nil or token == "" then return 0 end
    local position = decode_token(kind, token)
    if not position then return nil, "invalid " .. param .. " token" end
    return position
end

-- Filter + sort shared by these operations (and emulator.hosts). Returns the sorted matches, or nil and
-- the message for a 400.
local function select(args, docs, fields, sortable, default_sort, id_field, extra_pred)
    local sort_text, err = query.single(args, "sort")
    if err then return nil, err end
    local sort
    sort, err = query.parse_sort(sort_text, sortable, default_sort)
    if not sort then return nil, err end
    local pred
    pred, err = fql.compile(query.filter(args), fields)
    if not pred then return nil, err end
    local matches = query.filter_docs(docs, function(d)
        return pred(d) and (extra_pred == nil or extra_pred(d))
    end)
    query.sort_docs(matches, fields[sort.field], sort.desc, id_field)
    return matches
end
M.select = select

function M.spotlight_vulnerabilities(req)
    local args = req.args
    local filter = query.filter(args)
    if filter == nil or filter == "" then
        return envelope.error(400, "filter is required")
    end
    local limit, err = query.limit(args, 100, 400)
    if not limit then return envelope.error(400, err) end
    local position
    position, err = token_position(args, "after", "after")
    if not position then return envelope.error(400, err) end
    local matches
    matches, err = select(args, store.data.vulnerabilities, M.vulnerability_fields, VULN_SORT,
        { field = "created_timestamp", desc = false }, "id")
    if not matches then return envelope.error(400, err) end
    local page = query.page_ids(matches, position, limit, "id")
    local pagination = { limit = limit, total = #matches }
    if position + limit < #matches then
        pagination.after = encode_token("after", position + limit)
    end
    return envelope.send_json(200, envelope.envelope(page, { pagination = pagination }))
end

local function indicator_texts(doc)
    return { doc.id, doc.indicator, doc.type, doc.malicious_confidence }
end

local function indicators(req, full)
    local args = req.args
    local limit, err = query.limit(args, 100, 5000)
    if not limit then return envelope.error(400, err) end
    local offset
    offset, err = query.offset(args)
    if not offset then return envelope.error(400, err) end
    local q
    q, err = query.single(args, "q")
    if err then return envelope.error(400, err) end
    local include_deleted
    include_deleted, err = query.single(args, "include_deleted")
    if err then return envelope.error(400, err) end
    local text_pred = fql.full_text(q, indicator_texts)
    local matches
    matches, err = select(args, store.data.indicators, M.indicator_fields, INDICATOR_SORT,
        { field = "_marker", desc = false }, "id", function(d)
            return text_pred(d) and (include_deleted == "true" or not d.deleted)
        end)
    if not matches then return envelope.error(400, err) end
    local page = array()
    for i, d in ipairs(query.slice(matches, offset, limit)) do
        page[i] = full and d or d.id
    end
    return envelope.send_json(200, envelope.envelope(page, {
        pagination = { offset = offset, limit = limit, total = #matches },
    }))
end

function M.intel_indicator_entities(req)
    return indicators(req, true)
end

function M.intel_indicator_ids(req)
    return indicators(req, false)
end

function M.devices_scroll(req)
    local args = req.args
    local limit, err = query.limit(args, 100, 10000)
    if not limit then return envelope.error(400, err) end
    local position
    position, err = token_position(args, "offset", "scroll")
    if not position then return envelope.error(400, err) end
    local matches
    matches, err = select(args, store.data.devices, M.device_fields, DEVICE_SORT,
        { field = "hostname", desc = false }, "device_id")
    if not matches then return envelope.error(400, err) end
    local page = query.page_ids(matches, position, limit, "device_id")
    local next_position = math.min(position + limit, #matches)
    return envelope.send_json(200, envelope.envelope(page, {
        pagination = {
            offset = encode_token("scroll", next_position),
            limit = limit,
            total = #matches,
            expires_at = math.floor((ngx.now() + 120) * 1000),
        },
    }))
end

return M
