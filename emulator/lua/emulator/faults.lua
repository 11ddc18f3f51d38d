-- Faults on demand and per-route delays, set through /_emulator/faults and /_emulator/delays.
--
-- A fault applies to the next `count` requests (default 1; -1 = until cleared) whose path matches
-- `route` (a glob: `*` matches any characters; "*" alone matches everything) and, if given,
-- `method`. Kinds:
--   status    answer `status` (500, 502, 503, 429, 401, ...) with the API's error envelope
--   delay     wait `delay` seconds (without blocking other requests), then answer normally
--   reset     close the connection without answering
--   truncate  announce the full Content-Length, send `bytes` (default half) of the body, close
--   malformed send a body that is not valid JSON (`body`, default: the first half of the real one)
--   headers   answer normally, with the response headers in `headers` added or replaced
--   rewrite   answer normally, with the JSON fields in `set` (dot paths: "meta.pagination.after")
--             replaced in the body (JSON null removes a field), as a broken server would
-- `delay` and `headers` may be combined with any kind. The first matching fault (in the order added) is used.
-- `every = k` makes a fault a schedule: it hits every k-th matching request (the k-th, 2k-th, ...),
-- and `count` then counts hits, not matching requests.
local M = {}

local json = require "emulator.json"
local store = require "emulator.store"

local KINDS = { status = true, delay = true, reset = true, truncate = true, malformed = true, headers = true,
                rewrite = true }

local function glob_to_pattern(glob)
    return "^" .. glob:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*") .. "$"
end

local function check_common(rule)
    if type(rule) ~= "table" then
        return nil, "a rule must be a JSON object"
    end
    if type(rule.route) ~= "string" or rule.route == "" then
        return nil, "route is required (a path, or a glob with '*')"
    end
    if rule.method ~= nil and type(rule.method) ~= "string" then
        return nil, "method must be a string"
    end
    if rule.delay ~= nil and (type(rule.delay) ~= "number" or rule.delay < 0) then
        return nil, "delay must be a non-negative number of seconds"
    end
    return {
        route = rule.route,
        pattern = glob_to_pattern(rule.route),
        method = rule.method and rule.method:upper() or nil,
        delay = rule.delay,
    }
end

-- Header values may carry any byte a test needs (ESC, BEL, ...); names must be tokens.
local function check_headers(headers)
    if type(headers) ~= "table" or next(headers) == nil then
        return "headers must be an object of header names to string values"
    end
    for name, value in pairs(headers) do
        if type(name) ~= "string" or not name:match("^[%w!#$%%&'*+.^_`|~-]+$") then
            return "headers: bad header name " .. tostring(name)
        end
        if type(value) ~= "string" then
            return "headers: the value of " .. name .. " must be a string"
        end
    end
end

local function check_set(set)
    if type(set) ~= "table" or next(set) == nil then
        return "set must be an object of JSON field paths (\"meta.pagination.after\") to values"
    end
    for path in pairs(set) do
        if type(path) ~= "string" or not path:match("^[%w_]+[%w_.]*$") or path:find("..", 1, true)
            or path:sub(-1) == "." then
            return "set: bad field path " .. tostring(path)
        end
    end
end

local next_id = 0

-- Validates and stores a fault. Returns the stored fault, or nil and a message.
function M.add_fault(rule)
    local fault, err = check_common(rule)
    if not fault then return nil, err end
    local kind = rule.kind or (rule.status and "status") or (rule.delay and "delay")
        or (rule.headers and "headers") or (rule.set and "rewrite")
    if not KINDS[kind] then
        return nil, "kind must be one of status, delay, reset, truncate, malformed, headers, rewrite"
    end
    fault.kind = kind
    if kind == "status" then
        if type(rule.status) ~= "number" or rule.status < 400 or rule.status > 599 then
            return nil, "status must be an HTTP error status (400-599)"
        end
        fault.status = rule.status
        fault.message = rule.message
        fault.retry_after = rule.retry_after or 1
    end
    if kind == "delay" and not fault.delay then
        return nil, "delay is required for kind delay"
    end
    if rule.headers ~= nil then
        local problem = check_headers(rule.headers)
        if problem then return nil, problem end
        fault.headers = rule.headers
    elseif kind == "headers" then
        return nil, "headers is required for kind headers"
    end
    if kind == "rewrite" then
        local problem = check_set(rule.set)
        if problem then return nil, problem end
        fault.set = rule.set
    end
    if rule.bytes ~= nil then
        if type(rule.bytes) ~= "number" or rule.bytes < 0 then
            return nil, "bytes must be a non-negative number"
        end
        fault.bytes = rule.bytes
    end
    if rule.body ~= nil then
        if type(rule.body) ~= "string" then
            return nil, "body must be a string"
        end
        fault.body = rule.body
    end
    local count = rule.count == nil and 1 or rule.count
    if type(count) ~= "number" or (count < 1 and count ~= -1) then
        return nil, "count must be a positive number, or -1 for every request"
    end
    fault.count = count
    if rule.every ~= nil then
        if type(rule.every) ~= "number" or rule.every < 1 or rule.every ~= math.floor(rule.every) then
            return nil, "every must be a whole number >= 1"
        end
        fault.every, fault.seen = rule.every, 0
    end
    next_id = next_id + 1
    fault.id = next_id
    store.faults[#store.faults + 1] = fault
    return fault
end

function M.add_delay(rule)
    local delay, err = check_common(rule)
    if not delay then return nil, err end
    if not delay.delay then
        return nil, "delay is required"
    end
    store.delays[#store.delays + 1] = delay
    return delay
end

local function matches(rule, method, path)
    return (rule.method == nil or rule.method == method) and path:find(rule.pattern) ~= nil
end

-- Takes one use of the first fault matching the request, or returns nil.
function M.take(method, path)
    for i, fault in ipairs(store.faults) do
        local due = matches(fault, method, path)
        if due and fault.every then
            fault.seen = fault.seen + 1
            due = fault.seen % fault.every == 0
        end
        if due then
            if fault.count ~= -1 then
                fault.count = fault.count - 1
                if fault.count <= 0 then
                    table.remove(store.faults, i)
                end
            end
            return fault
        end
    end
    return nil
end

-- Applies a rewrite fault's `set` to a decoded JSON body: each dot path is created as needed;
-- JSON null removes the field.
function M.rewrite(value, set)
    if type(value) ~= "table" then return value end
    for path, replacement in pairs(set) do
        local node, last = value, nil
        for key in path:gmatch("[^.]+") do
            key = tonumber(key) or key -- "resources.1": the first item
            if last then
                if type(node[last]) ~= "table" then node[last] = {} end
                node = node[last]
            end
            last = key
        end
        if replacement == json.null then node[last] = nil else node[last] = replacement end
    end
    return value
end

-- Total configured delay (seconds) for a request.
function M.delay_for(method, path)
    local total = 0
    for _, d in ipairs(store.delays) do
        if matches(d, method, path) then
            total = total + d.delay
        end
    end
    return total
end

-- Public view of the active faults and delays.
function M.list()
    local faults, delays = {}, {}
    for i, f in ipairs(store.faults) do
        faults[i] = { id = f.id, route = f.route, method = f.method, kind = f.kind, status = f.status,
                      count = f.count, delay = f.delay, bytes = f.bytes, every = f.every, headers = f.headers,
                      set = f.set }
    end
    for i, d in ipairs(store.delays) do
        delays[i] = { route = d.route, method = d.method, delay = d.delay }
    end
    return faults, delays
end

return M
