-- All mutable emulator state, in plain Lua tables of the single nginx worker.
-- (One worker means no locking and no serialisation; a worker restart loses state, which is fine
-- for a test server.) Attachment bytes live on disk under <dir>/attachments, never here.
local config = require "emulator.config"

local M = {
    dir = nil,           -- instance directory
    start_config = nil,  -- configuration as loaded at start (restored by reset)
    conf = nil,          -- current configuration
}

-- Fresh, empty data collections.
local function empty_data()
    return {
        cases = {},              -- list, in creation order
        case_by_id = {},
        activity_by_id = {},
        activities_by_case = {}, -- case id -> list of activities
        attachment_by_id = {},   -- id -> metadata (bytes in <dir>/attachments/<id>)
        vulnerabilities = {},
        indicators = {},
        devices = {},
        host_groups = {},
        samples = {},            -- sha256 -> {name, bytes}
        entities = {},
        case_counter = 0,        -- numbers case keys
    }
end

function M.init(dir)
    M.dir = dir
    M.start_config = config.load(dir)
    M.reset_runtime()
    M.data = empty_data()
end

-- Tokens, faults, delays, rate-limit windows and the server's clock; the configuration goes back to
-- start-time. Casework scheduled before a reset is dropped (its generation is gone).
function M.reset_runtime()
    M.conf = config.copy(M.start_config)
    M.tokens = {}
    M.faults = {}
    M.delays = {}
    M.buckets = {}
    M.clock = { offset = 0 }
    M.generation = (M.generation or 0) + 1
end

function M.reset_data()
    local old = M.data
    M.data = empty_data()
    if old then
        for id in pairs(old.attachment_by_id) do
            os.remove(M.attachment_path(id))
        end
    end
end

-- Drops cases, activities and attachments only (the other collections stay).
function M.clear_cases()
    for id in pairs(M.data.attachment_by_id) do
        os.remove(M.attachment_path(id))
    end
    local d = M.data
    d.cases, d.case_by_id, d.activity_by_id, d.activities_by_case, d.attachment_by_id = {}, {}, {}, {}, {}
    d.case_counter = 0
end

function M.attachment_path(id)
    return M.dir .. "/attachments/" .. id
end

function M.add_case(case)
    local d = M.data
    d.cases[#d.cases + 1] = case
    d.case_by_id[case.id] = case
    d.activities_by_case[case.id] = d.activities_by_case[case.id] or {}
end

function M.add_activity(activity)
    local d = M.data
    d.activity_by_id[activity.id] = activity
    local list = d.activities_by_case[activity.case_id]
    if not list then
        list = {}
        d.activities_by_case[activity.case_id] = list
    end
    list[#list + 1] = activity
end

function M.next_case_key()
    local d = M.data
    d.case_counter = d.case_counter + 1
    return string.format("CS-%06d", d.case_counter)
end

return M
