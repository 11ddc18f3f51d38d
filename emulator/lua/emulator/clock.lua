-- The server's clock: the time Message Center stamps on what changes (created_time, last_modified_time,
-- whole seconds) and the Date header of every answer. Real time by default; through /_emulator/clock a
-- test shifts it (a server whose clock is not the client's), freezes it (many changes in one second) or
-- steps it forward. One clock for both, so what a client reads from Date and from the data agrees, as
-- it does in the cloud. `reset` puts it back to real time.
local store = require "emulator.store"
local timeutil = require "emulator.timeutil"

local M = {}

local function state()
    store.clock = store.clock or { offset = 0 }
    return store.clock
end

--- Epoch seconds on the server's clock (fractional).
function M.now()
    local c = state()
    if c.frozen then return c.frozen end
    ngx.update_time()
    return ngx.now() + c.offset
end

--- The timestamp a change made now carries: "YYYY-MM-DDTHH:MM:SSZ" (whole seconds, as the API writes).
function M.stamp()
    return timeutil.format(M.now())
end

--- The Date header's value (RFC 7231), from the same clock.
function M.http_date()
    return ngx.http_time(math.floor(M.now()))
end

-- {"offset": s} shifts real time; {"freeze": true|false}; {"advance": s} moves a frozen clock (or the
-- offset) forward; {"set": "2030-01-01T00:00:00Z"} freezes it there. Returns the clock's view, or nil
-- and a message.
function M.control(body)
    local c = state()
    for key, value in pairs(body) do
        if key == "offset" or key == "advance" then
            if type(value) ~= "number" or value ~= value or math.abs(value) > 1e9 then
                return nil, key .. " must be a number of seconds"
            end
        elseif key == "freeze" then
            if type(value) ~= "boolean" then return nil, "freeze must be true or false" end
        elseif key == "set" then
            if not timeutil.parse(value) then return nil, "set must be an ISO 8601 time" end
        else
            return nil, "unknown clock key '" .. tostring(key) .. "'"
        end
    end
    if body.offset then c.offset, c.frozen = body.offset, c.frozen and ngx.now() + body.offset end
    if body.freeze == true and not c.frozen then c.frozen = M.now() end
    if body.freeze == false and c.frozen then c.offset, c.frozen = c.frozen - ngx.now(), nil end
    if body.set then c.frozen = timeutil.parse(body.set) end
    if body.advance then
        if c.frozen then c.frozen = c.frozen + body.advance else c.offset = c.offset + body.advance end
    end
    local now = M.now()
    return { now = now, iso = timeutil.format(now), frozen = c.frozen ~= nil, offset = c.offset }
end

return M
