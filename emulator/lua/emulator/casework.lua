-- CrowdStrike's side of Message Center: what its analysts do to a tenant's cases, so that a client that
-- follows cases (falcon.CaseWatch, examples/case_watch.lua) sees real changes arrive. Driven through
-- POST /_emulator/casework, at once or on a schedule:
--   {"actions": [action, ...]}                           applied at once, in order, in one request (so
--                                                        they share one second of the server's clock)
--   {"actions": [...], "after": s, "every": s, "count": n}  applied after `after` seconds, then every
--                                                        `every` seconds, `count` times (default 1)
-- Actions:
--   {"action": "reply", "case_id": ID, "body": TEXT}                    a comment by CrowdStrike Support
--   {"action": "edit", "activity_id": ID, "body": TEXT}                 a comment's text replaced
--   {"action": "update", "case_id": ID, "set": {status, title, type, body, assigner, hosts, detections,
--                                               incidents}}              case fields changed
--   {"action": "attach", "case_id": ID, "name": "notes.txt", "content": TEXT}  a file added to the case
--   {"action": "open", "title": T, "type": T, "body": TEXT}              a case CrowdStrike opens
-- Every change is stamped by the server's clock (emulator.clock) and moves the case's
-- last_modified_time as the API does (an activity only with activity_moves_case).
local activities = require "emulator.activities"
local attachments = require "emulator.attachments"
local clock = require "emulator.clock"
local ids = require "emulator.ids"
local store = require "emulator.store"

local M = {}

M.SUPPORT = {
    display_name = "CrowdStrike Support", first_name = "CrowdStrike", last_name = "Support",
    uid = "support@crowdstrike.com", uuid = "5e1f0c8a-0000-4000-8000-c5c5c5c5c5c5",
}

local TEXT_FIELDS = { status = true, title = true, type = true, body = true }

local function text(value, name)
    if type(value) ~= "string" or value == "" then return nil, name .. " must be a non-empty string" end
    return value
end

local function case_of(action)
    local case = store.data.case_by_id[action.case_id or ""]
    if not case then return nil, "no case '" .. tostring(action.case_id) .. "'" end
    return case
end

local function check_links(list, name)
    if type(list) ~= "table" then return nil, name .. " must be a list" end
    for _, link in ipairs(list) do
        if type(link) ~= "table" or type(link.id) ~= "string" then return nil, name .. " entries need an id" end
    end
    return true
end

local function check_set(set)
    if type(set) ~= "table" or next(set) == nil then return nil, "set must name the fields to change" end
    for key, value in pairs(set) do
        if TEXT_FIELDS[key] then
            local ok, err = text(value, "set." .. key)
            if not ok then return nil, err end
        elseif key == "assigner" then
            if type(value) ~= "table" then return nil, "set.assigner must be an object" end
        elseif key == "hosts" then
            if type(value) ~= "table" then return nil, "set.hosts must be a list" end
        elseif key == "detections" or key == "incidents" then
            local ok, err = check_links(value, "set." .. key)
            if not ok then return nil, err end
        else
            return nil, "set." .. tostring(key) .. " is not a case field CrowdStrike changes"
        end
    end
    return true
end

-- What each action needs, checked before any of a request's actions is applied: true, or nil and why.
local checks = {
    reply = function(a)
        local ok, err = case_of(a)
        if ok then ok, err = text(a.body, "body") end
        return ok, err
    end,
    attach = function(a)
        local ok, err = case_of(a)
        if ok then ok, err = text(a.content, "content") end
        if ok then ok, err = attachments.check_name(a.name) end
        return ok, err
    end,
    update = function(a)
        local ok, err = case_of(a)
        if ok then ok, err = check_set(a.set) end
        return ok, err
    end,
    edit = function(a)
        if not store.data.activity_by_id[a.activity_id or ""] then
            return nil, "no activity '" .. tostring(a.activity_id) .. "'"
        end
        return text(a.body, "body")
    end,
    open = function(a)
        for _, key in ipairs({ "title", "type", "body" }) do
            local ok, err = text(a[key], key)
            if not ok then return nil, err end
        end
        return true
    end,
}

-- nil when the action is well formed, else why not.
local function problem(action)
    if type(action) ~= "table" then return "an action must be an object" end
    local check = checks[action.action]
    if not check then return "unknown action '" .. tostring(action.action) .. "' (reply, edit, update, attach, open)" end
    local ok, err = check(action)
    if not ok then return err end
end

local apply = {}

function apply.reply(action)
    return activities.append(case_of(action), action.body, M.SUPPORT)
end

function apply.edit(action)
    local activity = store.data.activity_by_id[action.activity_id]
    activity.body, activity.last_modified_time, activity.modified_by = action.body, clock.stamp(), M.SUPPORT.uid
    if store.conf.activity_moves_case then
        store.data.case_by_id[activity.case_id].last_modified_time = activity.last_modified_time
    end
    return activity
end

function apply.update(action)
    local case = case_of(action)
    for key, value in pairs(action.set) do case[key] = value end
    if action.set.type then case.case_type = action.set.type end
    case.last_modified_time = clock.stamp()
    return case
end

function apply.attach(action)
    local path = store.dir .. "/attachments/.casework-" .. ids.hex(16)
    local file = assert(io.open(path, "wb"))
    file:write(action.content)
    file:close()
    return assert(attachments.record(case_of(action), action.name, #action.content, M.SUPPORT.uuid, path))
end

function apply.open(action)
    local now = clock.stamp()
    local case = {
        id = ids.hex(32), key = store.next_case_key(), cid = store.conf.clients[1].cid, type = action.type,
        case_type = action.type, status = "open", title = action.title, body = action.body, assigner = M.SUPPORT,
        created_time = now, last_modified_time = now, aids = {}, hosts = {}, ip_addresses = {}, attachments = {},
        detections = {}, incidents = {}, malware_submission_id = "", malware_submission_url = "",
        recon_rule_type = "", rfi_id = "",
    }
    store.add_case(case)
    return case
end

local function apply_all(actions)
    local applied = {}
    for i, action in ipairs(actions) do
        local record = apply[action.action](action)
        applied[i] = { action = action.action, id = record.id,
                       at = record.last_modified_time or record.created_time }
    end
    return applied
end

local function schedule(actions, after, every, count, generation)
    local ok, err = ngx.timer.at(after, function(premature)
        -- A reset since: the cases these actions name are gone.
        if premature or store.generation ~= generation then return end
        for _, action in ipairs(actions) do
            local wrong = problem(action)
            if wrong then return ngx.log(ngx.ERR, "casework dropped: ", wrong) end
        end
        apply_all(actions)
        if count > 1 then schedule(actions, every, every, count - 1, generation) end
    end)
    if not ok then ngx.log(ngx.ERR, "casework not scheduled: ", err) end
end

--- The control route: {applied = [{action, id, at}]} at once, or {scheduled = count}; nil, why.
function M.control(body)
    local actions = body.actions
    if type(actions) ~= "table" or #actions == 0 then return nil, "actions must be a non-empty list" end
    for _, key in ipairs({ "after", "every", "count" }) do
        local v = body[key]
        if v ~= nil and (type(v) ~= "number" or v < 0 or v ~= v or v > 86400) then
            return nil, key .. " must be a number of seconds (count: of times)"
        end
    end
    local count = math.floor(body.count or 1)
    if body.after == nil and body.every == nil then
        for _, action in ipairs(actions) do
            local wrong = problem(action)
            if wrong then return nil, wrong end
        end
        return { applied = apply_all(actions) }
    end
    if count < 1 then return nil, "count must be at least 1" end
    schedule(actions, body.after or 0, body.every or 0, count, store.generation)
    return { scheduled = count }
end

return M
