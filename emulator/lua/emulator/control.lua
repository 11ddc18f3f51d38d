-- The test-only control API under /_emulator/: reset, seed, faults, delays, config, tokens, the
-- request log, a state summary, CrowdStrike's casework and the server's clock. Control requests bypass
-- rate limits, faults and the log.
-- Answers are plain JSON objects; a bad request gets 400 {"error": "..."}.
local config = require "emulator.config"
local faults = require "emulator.faults"
local json = require "emulator.json"
local reqlog = require "emulator.reqlog"
local seed = require "emulator.seed"
local store = require "emulator.store"

local M = {}

local array = json.array

local function reply(status, value)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Cache-Control"] = "no-store"
    ngx.print(json.encode(value))
    return ngx.exit(ngx.OK)
end

local function bad(message)
    return reply(400, { error = message })
end

local function count(t)
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    return n
end

local function timed(fn)
    ngx.update_time()
    local t0 = ngx.now()
    local result = fn()
    ngx.update_time()
    result.elapsed = ngx.now() - t0
    return result
end

local function check_seed(opts)
    for key, v in pairs(opts) do
        if key ~= "seed" and key ~= "cases" and key ~= "max_activities" and key ~= "vulnerabilities"
            and key ~= "indicators" and key ~= "devices" and key ~= "entities" then
            return nil, "unknown seed option '" .. tostring(key) .. "'"
        end
        if type(v) ~= "number" or v < 0 or v ~= math.floor(v) then
            return nil, "seed option '" .. key .. "' must be a non-negative integer"
        end
    end
    return opts
end

local function fault_listing()
    local f, d = faults.list()
    return { faults = array(f), delays = array(d) }
end

local function client_cid()
    return store.conf.clients[1] and store.conf.clients[1].cid
end

local handlers = {}

function handlers.ping()
    return reply(200, { ok = true, dir = store.dir, pid = ngx.worker.pid() })
end

-- "<client_id> <client_secret>" of the demo client, as text for the control script to print.
function handlers.credentials()
    local c = store.conf.clients[1]
    ngx.header["Content-Type"] = "text/plain"
    ngx.print(c.client_id, " ", c.client_secret, "\n")
    return ngx.exit(ngx.OK)
end

-- {} -> back to the start state (configured seed); {"empty": true} -> no data at all;
-- {"seed": {...}} -> start configuration but this seed.
function handlers.reset(body)
    local opts = config.copy(store.start_config.seed)
    if type(body.seed) == "table" then
        local ok, err = check_seed(body.seed)
        if not ok then return bad(err) end
        for k, v in pairs(body.seed) do opts[k] = v end
    end
    local result = timed(function()
        store.reset_runtime()
        store.reset_data()
        reqlog.clear()
        if body.empty then
            return { counts = {} }
        end
        return { counts = seed.apply(opts, client_cid()) }
    end)
    return reply(200, result)
end

-- Replaces the named collections with generated data: {seed, cases, max_activities,
-- vulnerabilities, indicators, devices, entities}.
function handlers.seed(body)
    local ok, err = check_seed(body)
    if not ok then return bad(err) end
    local result = timed(function()
        return { counts = seed.apply(body, client_cid()) }
    end)
    return reply(200, result)
end

local function rules_endpoint(body, add, list_key)
    if body.clear then
        if list_key == "faults" then store.faults = {} else store.delays = {} end
    end
    local rules = body[list_key]
    if rules == nil then
        -- Anything besides `clear` makes the body itself one rule (validated by `add`).
        for key in pairs(body) do
            if key ~= "clear" then
                rules = { body }
                break
            end
        end
    end
    for _, rule in ipairs(rules or {}) do
        local ok, err = add(rule)
        if not ok then return bad(err) end
    end
    return reply(200, fault_listing())
end

function handlers.faults(body)
    return rules_endpoint(body, faults.add_fault, "faults")
end

function handlers.delays(body)
    return rules_endpoint(body, faults.add_delay, "delays")
end

function handlers.config(body)
    -- Merged into a copy, so a bad key leaves the configuration untouched.
    local candidate = config.copy(store.conf)
    local ok, err = config.merge(candidate, body)
    if not ok then return bad(err) end
    store.conf = candidate
    if body.rate_limit then
        -- A new budget starts new windows.
        store.buckets = {}
    end
    return reply(200, { config = store.conf })
end

function handlers.requests(body)
    local list = reqlog.list()
    if body.clear then reqlog.clear() end
    return reply(200, { requests = array(list) })
end

function handlers.clear_log()
    return reply(200, { cleared = reqlog.clear() })
end

-- {"expire": "all" | token} ages tokens past their expiry; {"revoke": "all" | token} revokes.
function handlers.tokens(body)
    local affected = 0
    for token, record in pairs(store.tokens) do
        if body.expire == "all" or body.expire == token then
            record.expires_at = ngx.now() - 1
            affected = affected + 1
        end
        if body.revoke == "all" or body.revoke == token then
            record.revoked = true
            affected = affected + 1
        end
    end
    return reply(200, { affected = affected })
end

-- Event Streams: {"reset": true} forgets sessions, faults and restarts the event clock; {"expire": true}
-- expires every session; {"faults": [...]} sets the stream faults (streams.lua); the answer is the
-- streams' state (sessions, refreshes, missed deadlines, feed requests).
function handlers.streams(body)
    local streams = require "emulator.streams"
    if body.reset then streams.reset() end
    if body.expire then streams.expire_all() end
    if body.faults ~= nil then
        local ok, err = streams.set_faults(body.faults)
        if not ok then return bad(err) end
    end
    return reply(200, streams.view())
end

-- CrowdStrike's side of Message Center: replies, edits, field changes, attachments, new cases, at once
-- or on a schedule (emulator.casework).
function handlers.casework(body)
    local result, err = require("emulator.casework").control(body)
    if not result then return bad(err) end
    return reply(200, result)
end

-- The server's clock (emulator.clock): {"offset": s}, {"freeze": bool}, {"advance": s}, {"set": iso}.
function handlers.clock(body)
    local result, err = require("emulator.clock").control(body)
    if not result then return bad(err) end
    return reply(200, result)
end

function handlers.state()
    local d = store.data
    return reply(200, {
        cases = #d.cases, activities = count(d.activity_by_id), attachments = count(d.attachment_by_id),
        vulnerabilities = #d.vulnerabilities, indicators = #d.indicators, devices = #d.devices,
        entities = #d.entities, tokens = count(store.tokens), faults = #store.faults, delays = #store.delays,
    })
end

function M.handle(name)
    local handler = handlers[name]
    if not handler then
        return reply(404, { error = "unknown control route /_emulator/" .. tostring(name) })
    end
    ngx.req.read_body()
    local text = ngx.req.get_body_data()
    if not text then
        local path = ngx.req.get_body_file()
        if path then
            local f = io.open(path, "rb")
            text = f and f:read("*a")
            if f then f:close() end
        end
    end
    local body = {}
    if text and text:match("%S") then
        local err
        body, err = json.decode(text)
        if type(body) ~= "table" then
            return bad("body must be a JSON object: " .. tostring(err or "not an object"))
        end
    end
    return handler(body)
end

return M
