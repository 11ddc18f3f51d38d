-- Message Center case activities: QueryActivityByCaseID, GetCaseActivityByIds, CaseAddActivity.
local cases = require "emulator.cases"
local clock = require "emulator.clock"
local envelope = require "emulator.envelope"
local ids = require "emulator.ids"
local json = require "emulator.json"
local query = require "emulator.query"
local store = require "emulator.store"

local M = {}

local array = json.array

M.fields = {
    ["activity.created_time"] = { kind = "date", get = function(a) return a.created_time end },
    ["activity.type"] = { kind = "string", get = function(a) return a.type end },
}
M.sortable = { ["activity.created_time"] = true, ["activity.type"] = true }
M.default_sort = { field = "activity.created_time", desc = false }

function M.query(req)
    local args = req.args
    local case_id, err = query.single(args, "case_id")
    if err then return envelope.error(400, err) end
    if case_id == nil or case_id == "" then
        return envelope.error(400, "case_id is required")
    end
    return query.answer_ids(args, store.data.activities_by_case[case_id] or {}, M)
end

function M.get(req)
    local list, err = cases.read_ids(req.json, 500)
    if not list then return envelope.error(400, err) end
    return M.send_lookup(list)
end

function M.send_lookup(list)
    return cases.send_lookup(list, store.data.activity_by_id, function(a) return a end, "activity")
end

--- Adds a comment to `case` by `author`, stamped by the server's clock. The case's last_modified_time
--- moves with it unless the configuration says otherwise (activity_moves_case).
function M.append(case, text, author)
    local now = clock.stamp()
    local activity = {
        id = ids.hex(32), case_id = case.id, cid = case.cid, type = "comment", body = text,
        created_by = author, created_time = now, last_modified_time = now, modified_by = "",
    }
    store.add_activity(activity)
    if store.conf.activity_moves_case then case.last_modified_time = now end
    return activity
end

function M.add(req)
    local body = req.json
    if type(body) ~= "table" or body[1] ~= nil then
        return envelope.error(400, "request body must be a JSON object")
    end
    for _, key in ipairs({ "case_id", "type", "user_uuid", "body" }) do
        if type(body[key]) ~= "string" or body[key] == "" then
            return envelope.error(400, key .. " is required")
        end
    end
    if body.type ~= "comment" then
        return envelope.error(400, "invalid activity type '" .. body.type
            .. "': only activities of type comment may be added via the API")
    end
    local case = store.data.case_by_id[body.case_id]
    if not case then
        return envelope.error(404, nil, { errors = { { code = 404, message = "case not found", id = body.case_id } } })
    end
    local activity = M.append(case, body.body, cases.author_for(req, body.user_uuid))
    return envelope.send_json(200, envelope.envelope(array({ { id = activity.id, path = "" } }), {
        writes = { resources_affected = 1 },
    }))
end

return M
