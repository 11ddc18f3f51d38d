-- Message Center cases: QueryCasesIdsByFilter, GetCaseEntitiesByIDs, CreateCase (v1, decommissioned),
-- CreateCaseV2 and UpdateCase (decommissioned). Also the case fields FQL and aggregates work on.
local clock = require "emulator.clock"
local envelope = require "emulator.envelope"
local ids = require "emulator.ids"
local json = require "emulator.json"
local query = require "emulator.query"
local store = require "emulator.store"

local M = {}

local array = json.array

local function activity_bodies(case)
    local out = {}
    for i, a in ipairs(store.data.activities_by_case[case.id] or {}) do
        out[i] = a.body
    end
    return out
end

local function list_of(key, sub)
    return function(case)
        local out = {}
        for i, item in ipairs(case[key]) do
            out[i] = item[sub]
        end
        return out
    end
end

local function field(key)
    return function(case) return case[key] end
end

local function assigner(key)
    return function(case) return case.assigner and case.assigner[key] end
end

-- Every text value of a case, for `_all` and `q`.
function M.texts(case)
    local out = { case.id, case.key, case.title, case.body, case.status, case.type }
    local a = case.assigner or {}
    for _, k in ipairs({ "display_name", "first_name", "last_name", "uid", "uuid" }) do
        out[#out + 1] = a[k]
    end
    for _, key in ipairs({ "aids", "hosts", "ip_addresses" }) do
        for _, v in ipairs(case[key]) do out[#out + 1] = v end
    end
    for _, key in ipairs({ "detections", "incidents" }) do
        for _, v in ipairs(case[key]) do out[#out + 1] = v.id end
    end
    for _, b in ipairs(activity_bodies(case)) do out[#out + 1] = b end
    return out
end

M.fields = {
    ["_all"] = { kind = "text", get = M.texts },
    ["activity.body"] = { kind = "string", get = activity_bodies },
    ["case.aids"] = { kind = "string", get = field("aids") },
    ["case.assigner.display_name"] = { kind = "string", get = assigner("display_name") },
    ["case.assigner.first_name"] = { kind = "string", get = assigner("first_name") },
    ["case.assigner.last_name"] = { kind = "string", get = assigner("last_name") },
    ["case.assigner.uid"] = { kind = "string", get = assigner("uid") },
    ["case.assigner.uuid"] = { kind = "string", get = assigner("uuid") },
    ["case.body"] = { kind = "string", get = field("body") },
    ["case.created_time"] = { kind = "date", get = field("created_time") },
    ["case.detections.id"] = { kind = "string", get = list_of("detections", "id") },
    ["case.hosts"] = { kind = "string", get = field("hosts") },
    ["case.id"] = { kind = "string", get = field("id") },
    ["case.incidents.id"] = { kind = "string", get = list_of("incidents", "id") },
    ["case.ip_addresses"] = { kind = "string", get = field("ip_addresses") },
    ["case.key"] = { kind = "string", get = field("key") },
    ["case.last_modified_time"] = { kind = "date", get = field("last_modified_time") },
    ["case.status"] = { kind = "string", get = field("status") },
    ["case.title"] = { kind = "string", get = field("title") },
    ["case.type"] = { kind = "string", get = field("type") },
}

M.sortable = {
    ["case.created_time"] = true, ["case.last_modified_time"] = true, ["case.status"] = true,
    ["case.type"] = true, ["case.id"] = true,
}
M.default_sort = { field = "case.created_time", desc = true }

local LIST_KEYS = { "aids", "hosts", "ip_addresses", "detections", "incidents", "attachments" }

-- The case as the API returns it (list fields must stay JSON arrays when empty).
local function view(case)
    for _, key in ipairs(LIST_KEYS) do
        array(case[key])
    end
    return case
end
M.view = view

-- Entity lookups share this: {ids: [...]} -> found list, or an error already sent.
function M.read_ids(body, max)
    if type(body) ~= "table" or type(body.ids) ~= "table" or #body.ids == 0 then
        return nil, "ids is required: send {\"ids\": [\"...\"]}"
    end
    if #body.ids > max then
        return nil, string.format("at most %d ids may be requested at once, got %d", max, #body.ids)
    end
    for _, id in ipairs(body.ids) do
        if type(id) ~= "string" or id == "" then
            return nil, "ids must be non-empty strings"
        end
    end
    return body.ids
end

-- 200 with every entity found, or 404 naming each missing id with the found ones in resources.
function M.send_lookup(list, by_id, render, what)
    local found, errors = array(), {}
    for _, id in ipairs(list) do
        local entity = by_id[id]
        if entity then
            found[#found + 1] = render(entity)
        else
            errors[#errors + 1] = { code = 404, message = what .. " not found", id = id }
        end
    end
    if #errors > 0 then
        return envelope.error(404, nil, { errors = errors, resources = found })
    end
    return envelope.send_json(200, envelope.envelope(found))
end

function M.query(req)
    return query.answer_ids(req.args, store.data.cases, M)
end

function M.get(req)
    local list, err = M.read_ids(req.json, 500)
    if not list then return envelope.error(400, err) end
    return M.send_lookup(list, store.data.case_by_id, view, "case")
end

local function check_links(body, key, need_product)
    local items = body[key]
    if items == nil or items == json.null then
        return {}
    end
    if type(items) ~= "table" then
        return nil, key .. " must be a list"
    end
    local out = {}
    for i, item in ipairs(items) do
        if type(item) ~= "table" or type(item.id) ~= "string" or item.id == "" then
            return nil, string.format("%s[%d].id is required", key, i - 1)
        end
        local link = { id = item.id, url = type(item.url) == "string" and item.url or "" }
        if need_product and type(item.product) == "string" then
            link.product = item.product
        end
        out[i] = link
    end
    return out
end

local function required_string(body, key)
    local v = body[key]
    if type(v) ~= "string" or v == "" then
        return nil, key .. " is required"
    end
    return v
end

-- The author recorded for things an API client creates.
function M.author_for(req, user_uuid)
    local client = req.token and req.token.client_id or "unknown"
    return {
        display_name = "API client " .. client,
        first_name = "API",
        last_name = "Client",
        uid = client,
        uuid = user_uuid or "",
    }
end

local function create(req, version)
    local body = req.json
    if type(body) ~= "table" or json.is_array(body) or body[1] ~= nil then
        return envelope.error(400, "request body must be a JSON object")
    end
    local fields = {}
    for _, key in ipairs({ "title", "type", "body" }) do
        local v, err = required_string(body, key)
        if not v then return envelope.error(400, err) end
        fields[key] = v
    end
    local detections, err = check_links(body, "detections", version == 2)
    if not detections then return envelope.error(400, err) end
    local incidents
    incidents, err = check_links(body, "incidents", false)
    if not incidents then return envelope.error(400, err) end
    local user_uuid = type(body.user_uuid) == "string" and body.user_uuid or nil

    local now = clock.stamp()
    local case = {
        id = ids.hex(32),
        key = store.next_case_key(),
        cid = req.token and req.token.cid or "",
        type = fields.type,
        case_type = fields.type,
        status = "open",
        title = fields.title,
        body = fields.body,
        assigner = M.author_for(req, user_uuid),
        created_time = now,
        last_modified_time = now,
        aids = {}, hosts = {}, ip_addresses = {}, attachments = {},
        detections = detections,
        incidents = incidents,
        malware_submission_id = type(body.malware_submission_id) == "string" and body.malware_submission_id or "",
        malware_submission_url = "",
        recon_rule_type = type(body.recon_rule_type) == "string" and body.recon_rule_type or "",
        rfi_id = "",
    }
    store.add_case(case)
    return envelope.send_json(200, envelope.envelope(array({ { id = case.id, path = "" } }), {
        writes = { resources_affected = 1 },
    }))
end

function M.create_v1(req)
    return create(req, 1)
end

function M.create_v2(req)
    return create(req, 2)
end

-- UpdateCase (PATCH v1): replaces the body when given; detections and incidents are added (by id).
function M.update(req)
    local body = req.json
    if type(body) ~= "table" or body[1] ~= nil then
        return envelope.error(400, "request body must be a JSON object")
    end
    local id, err = required_string(body, "id")
    if not id then return envelope.error(400, err) end
    local case = store.data.case_by_id[id]
    if not case then
        return envelope.error(404, nil, { errors = { { code = 404, message = "case not found", id = id } } })
    end
    if body.body ~= nil and type(body.body) ~= "string" then
        return envelope.error(400, "body must be a string")
    end
    local detections
    detections, err = check_links(body, "detections", false)
    if not detections then return envelope.error(400, err) end
    local incidents
    incidents, err = check_links(body, "incidents", false)
    if not incidents then return envelope.error(400, err) end
    if body.body then
        case.body = body.body
    end
    for key, items in pairs({ detections = detections, incidents = incidents }) do
        local seen = {}
        for _, existing in ipairs(case[key]) do seen[existing.id] = true end
        for _, item in ipairs(items) do
            if not seen[item.id] then
                case[key][#case[key] + 1] = item
            end
        end
    end
    case.last_modified_time = clock.stamp()
    return envelope.send_json(200, envelope.envelope(array({ { id = case.id, path = "" } }), {
        writes = { resources_affected = 1 },
    }))
end

return M
