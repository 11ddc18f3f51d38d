-- Event Streams: discovery (GET /sensors/entities/datafeed/v2), the feeds per partition
-- (GET /sensors/entities/datafeed/v1/<partition>, `Authorization: Token <session token>`) and the session
-- refresh (POST /sensors/entities/datafeed-actions/v1/<partition>?action_name=refresh_active_stream_session).
--
-- Events are seeded: event k (1..streams.events) of a partition is always the same JSON, and becomes
-- available streams.rate events per second after the stream epoch (rate 0: all at once), so `whence=2`
-- and a consumer that keeps up both mean something. A feed writes what is available, then a blank
-- keep-alive line every streams.keepalive seconds; it ends when its session's refresh deadline passes (the
-- session is then dead: 401, as for an expired one) or when a new discovery for the same app id replaces
-- it. A feed never blocks the emulator's single worker: it sleeps between writes.
-- Faults (faults.lua) apply as to any route; a `truncate` fault on a feed cuts it after `bytes` bytes of
-- events (mid-line), closing the connection. The stream's own faults (M.set_faults, control route
-- `streams` with `faults`) play what a broken or hostile Event Streams API sends, until the next reset:
--   {kind = "empty", seconds = s}         feeds answer 200 with an empty body (for s seconds; default: always)
--   {kind = "interval", text = "0.001"}   discovery names this raw JSON as refreshActiveSessionInterval
--   {kind = "partition", text = "1e20"}   discovery names partition 0's feed and refresh URLs with this number
--   {kind = "offset", text = "1e308", after = n}   event lines after the n-th carry this raw JSON offset
--   {kind = "bad_line", text = "...", after = n}  this line follows event n, in the same write
--   {kind = "urls", feed = base, refresh = base}   discovery names these origins ("http://host:port")
--   {kind = "slow_refresh", seconds = s}  a refresh counts when it arrives, and is answered s seconds later
local envelope = require "emulator.envelope"
local json = require "emulator.json"
local store = require "emulator.store"
local timeutil = require "emulator.timeutil"

local M = {}

M.SCOPE = "streaming:read"
M.FEED = "^/sensors/entities/datafeed/v1/(%d+)$"
M.REFRESH = "^/sensors/entities/datafeed%-actions/v1/(%d+)$"

local EVENT_TYPES = { "DetectionSummaryEvent", "AuthActivityAuditEvent", "UserActivityAuditEvent",
                      "IncidentSummaryEvent" }
local BATCH = 200 -- lines per write while catching up

local function state()
    local s = store.streams
    if not s then
        s = { sessions = {}, epoch = ngx.now(), refreshes = {}, missed_deadlines = 0, feeds_open = 0, feeds = 0,
              faults = {} }
        store.streams = s
    end
    return s
end

--- Forgets every session and restarts the event clock (control route `streams` with reset).
function M.reset()
    store.streams = nil
    return state()
end

local FAULTS = {
    empty = { seconds = "number?" }, interval = { text = "string" }, partition = { text = "string" },
    offset = { text = "string", after = "number" }, bad_line = { text = "string", after = "number" },
    urls = { feed = "string?", refresh = "string?" }, slow_refresh = { seconds = "number" },
}

-- A fault as the control route gave it, or nil, why.
local function check_fault(fault)
    local fields = type(fault) == "table" and FAULTS[fault.kind]
    if not fields then return nil, "a stream fault needs a kind: empty, interval, partition, offset, bad_line, "
        .. "urls or slow_refresh" end
    for key, value in pairs(fault) do
        local want = key ~= "kind" and fields[key]
        if key ~= "kind" and not want then return nil, "stream fault " .. fault.kind .. ": unknown key " .. key end
        if want and type(value) ~= want:gsub("%?$", "") then
            return nil, ("stream fault %s: %s must be a %s"):format(fault.kind, key, want:gsub("%?$", ""))
        end
    end
    for key, want in pairs(fields) do
        if not want:find("?", 1, true) and fault[key] == nil then
            return nil, ("stream fault %s: %s is required"):format(fault.kind, key)
        end
    end
    return fault
end

--- Sets the stream faults (a list; an empty list clears them). Returns true, or nil and why.
function M.set_faults(list)
    if type(list) ~= "table" then return nil, "faults must be a list of stream faults" end
    local faults = {}
    for _, fault in ipairs(list) do
        local ok, err = check_fault(fault)
        if not ok then return nil, err end
        if fault.kind == "empty" and fault.seconds then fault.until_time = ngx.now() + fault.seconds end
        faults[fault.kind] = fault
    end
    state().faults = faults
    return true
end

local function fault(kind) return state().faults[kind] end

-- `text` with the raw JSON `raw` in place of the value of `"key":placeholder` (a broken API's bytes).
local function splice(text, key, placeholder, raw)
    local pattern = ('"%s":%s([,}])'):format(key, tostring(placeholder):gsub("%p", "%%%0"))
    return (text:gsub(pattern, function(after)
        return '"' .. key .. '":' .. raw .. after
    end))
end

local function available(conf, now)
    if conf.rate <= 0 then return conf.events end
    return math.min(conf.events, math.floor((now - state().epoch) * conf.rate))
end

local function event_type(k) return EVENT_TYPES[(k - 1) % #EVENT_TYPES + 1] end

-- The line of event k of a partition (same bytes every time).
local function event_line(partition, k, cid)
    local created = math.floor(state().epoch * 1000) + k
    local body = {
        metadata = { customerIDString = cid, offset = k, eventType = event_type(k), eventCreationTime = created,
                     version = "1.0" },
        event = { DetectId = ("ldt:%d:%d"):format(partition, k), Severity = k % 5 + 1,
                  ComputerName = ("host-%d"):format(k % 17),
                  Description = ("seeded event %d of partition %d"):format(k, partition) },
    }
    local line = json.encode(body)
    local bad_offset = fault("offset")
    if bad_offset and k > bad_offset.after then line = splice(line, "offset", k, bad_offset.text) end
    return line .. "\n"
end

local function base_url()
    return ngx.var.scheme .. "://" .. (ngx.var.http_host or (ngx.var.server_addr .. ":" .. ngx.var.server_port))
end

local function check_app_id(app_id)
    if type(app_id) ~= "string" or not app_id:match("^%w+$") or #app_id > 32 then
        envelope.error(400, "appId is required: 1-32 alphanumeric characters")
        return nil
    end
    return app_id
end

-- A session whose deadline passed or that expired is dead; counted once as a missed deadline.
local function live(session, now)
    if session.dead then return false end
    if now >= session.refresh_deadline or now >= session.expires then
        session.dead = true
        if now >= session.refresh_deadline and now < session.expires then
            state().missed_deadlines = state().missed_deadlines + 1
        end
        return false
    end
    return true
end

--- GET /sensors/entities/datafeed/v2?appId=APP&format=json
function M.discover(req)
    local app_id = check_app_id(req.args.appId)
    if not app_id then return end
    local conf, s, now = store.conf.streams, state(), ngx.now()
    -- Two live consumers must not share an app id: another API client's live session holds it.
    for _, session in pairs(s.sessions) do
        if session.app_id == app_id and session.client_id ~= req.token.client_id and live(session, now) then
            return envelope.error(409, "appId " .. app_id .. " is in use by another connection")
        end
    end
    local resources = {}
    local named = fault("partition")
    local urls = fault("urls") or {}
    for partition = 0, conf.partitions - 1 do
        local in_url = partition
        if named and partition == 0 then in_url, partition = named.text, tonumber(named.text) end
        -- A new discovery replaces this app id's sessions: their feeds end.
        for _, session in pairs(s.sessions) do
            if session.app_id == app_id and session.partition == partition then session.dead = true end
        end
        local token = require("emulator.ids").token()
        local expires = now + conf.session_lifetime
        s.sessions[token] = { app_id = app_id, partition = partition, client_id = req.token.client_id,
                              cid = req.token.cid, expires = expires,
                              refresh_deadline = now + conf.refresh_interval }
        local base = base_url()
        resources[#resources + 1] = {
            dataFeedURL = ("%s/sensors/entities/datafeed/v1/%s?appId=%s"):format(urls.feed or base, in_url, app_id),
            sessionToken = { token = token, expiration = timeutil.format(expires) },
            refreshActiveSessionURL = ("%s/sensors/entities/datafeed-actions/v1/%s?appId=%s&action_name=%s")
                :format(urls.refresh or base, in_url, app_id, "refresh_active_stream_session"),
            refreshActiveSessionInterval = conf.refresh_interval,
        }
    end
    local answer = envelope.envelope(json.array(resources), { pagination = { total = #resources } })
    local interval = fault("interval")
    if not interval then return envelope.send_json(200, answer) end
    ngx.status = 200
    ngx.header["Content-Type"] = "application/json"
    envelope.common_headers()
    ngx.print(splice(json.encode(answer), "refreshActiveSessionInterval", conf.refresh_interval, interval.text))
    return ngx.exit(ngx.OK)
end

--- POST /sensors/entities/datafeed-actions/v1/<partition>?appId=APP&action_name=refresh_active_stream_session
function M.refresh(req, partition)
    local app_id = check_app_id(req.args.appId)
    if not app_id then return end
    if req.args.action_name ~= "refresh_active_stream_session" then
        return envelope.error(400, "action_name must be refresh_active_stream_session")
    end
    local s, now = state(), ngx.now()
    local refreshed = false
    for _, session in pairs(s.sessions) do
        if session.app_id == app_id and session.partition == partition and session.client_id == req.token.client_id
            and live(session, now) then
            session.refresh_deadline = now + store.conf.streams.refresh_interval
            refreshed = true
        end
    end
    if not refreshed then
        return envelope.error(404, "no active stream session for appId " .. app_id .. " on partition " .. partition)
    end
    local list = s.refreshes[partition + 1] or {}
    s.refreshes[partition + 1] = list
    list[#list + 1] = now
    local slow = fault("slow_refresh")
    if slow then ngx.sleep(slow.seconds) end -- counted on arrival, answered late
    return envelope.send_json(200, envelope.envelope(json.array({})))
end

local function event_filter(text)
    if text == nil or text == "" then return nil end
    local wanted = {}
    for name in tostring(text):gmatch("[^,]+") do wanted[name] = true end
    return wanted
end

-- Writes one piece of the feed, honouring a pending cut; false when the feed must end.
local function write(piece, cut)
    if cut then
        if cut.sent + #piece >= cut.bytes then
            ngx.print(piece:sub(1, cut.bytes - cut.sent))
            ngx.flush(true)
            return false, true
        end
        cut.sent = cut.sent + #piece
    end
    local ok = ngx.print(piece)
    return ok and ngx.flush(true) ~= nil
end

-- The live session a feed request's token names; nil once the error is answered.
local function feed_session(req, partition, now)
    local auth = req.headers.authorization
    local token = type(auth) == "string" and auth:match("^%s*Token%s+(%S+)%s*$")
    local session = token and state().sessions[token]
    if not session or session.partition ~= partition or not live(session, now) then
        envelope.error(401, "invalid or expired stream session token")
        return nil
    end
    if req.args.appId ~= session.app_id then
        envelope.error(400, "appId does not match the session's")
        return nil
    end
    return session
end

-- The first event a feed writes (offset=N, whence=2, or event 1); nil once a bad offset is answered.
local function first_event(req, conf, now)
    local offset = req.args.offset and tonumber(req.args.offset)
    if req.args.offset and (not offset or offset < 0 or offset ~= math.floor(offset)) then
        envelope.error(400, "offset must be a whole number >= 0")
        return nil
    end
    if not offset and req.args.whence == "2" then return available(conf, now) + 1 end
    return math.max(offset or 1, 1)
end

-- The text of events first..last that the filter lets through (and a bad_line fault's line).
local function batch(partition, first, last, wanted, cid)
    local lines = {}
    local bad = fault("bad_line")
    for k = first, last do
        if not wanted or wanted[event_type(k)] then lines[#lines + 1] = event_line(partition, k, cid) end
        if bad and k == bad.after then lines[#lines + 1] = bad.text .. "\n" end
    end
    return table.concat(lines)
end

local function begin_feed(length)
    ngx.status = 200
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Content-Length"] = length
    envelope.common_headers()
end

--- GET /sensors/entities/datafeed/v1/<partition>?appId=APP[&offset=N|&whence=2][&eventType=A,B]
function M.feed(req, partition)
    local s, conf, now = state(), store.conf.streams, ngx.now()
    s.feeds = s.feeds + 1
    local session = feed_session(req, partition, now)
    local next_event = session and first_event(req, conf, now)
    if not next_event then return end
    local empty = fault("empty")
    if empty and (not empty.until_time or now < empty.until_time) then
        begin_feed(0) -- a clean end at once: no event, no keep-alive line
        return ngx.exit(ngx.OK)
    end
    local wanted = event_filter(req.args.eventType)
    local body_fault = ngx.ctx.body_fault
    local cut = body_fault and body_fault.kind == "truncate" and { bytes = body_fault.bytes or 100, sent = 0 } or nil
    begin_feed(nil)
    ngx.send_headers()
    ngx.flush(true)
    s.feeds_open = s.feeds_open + 1
    local last_write = now
    local open = true
    while open do
        ngx.update_time()
        now = ngx.now()
        if not live(session, now) then break end
        local last = math.min(available(conf, now), next_event + BATCH - 1)
        if next_event <= last then
            local text = batch(partition, next_event, last, wanted, session.cid)
            next_event = last + 1
            if text ~= "" then
                local cut_now
                open, cut_now = write(text, cut)
                if cut_now then
                    s.feeds_open = s.feeds_open - 1
                    return ngx.exit(444)
                end
                last_write = now
            end
            if open then ngx.sleep(0) end
        else
            if now - last_write >= conf.keepalive then
                open = write("\n", nil)
                last_write = now
            end
            if open then ngx.sleep(math.min(0.05, conf.keepalive)) end
        end
    end
    s.feeds_open = s.feeds_open - 1
    return ngx.exit(ngx.OK)
end

--- The control view: {sessions, refreshes (per partition, times), missed_deadlines, feeds_open}.
function M.view()
    local s, now = state(), ngx.now()
    local sessions = {}
    for _, session in pairs(s.sessions) do
        sessions[#sessions + 1] = { app_id = session.app_id, partition = session.partition, live = live(session, now),
                                    refresh_deadline = session.refresh_deadline, expires = session.expires }
    end
    local refreshes = {}
    for p = 1, store.conf.streams.partitions do refreshes[p] = json.array(s.refreshes[p] or {}) end
    return { sessions = json.array(sessions), refreshes = json.array(refreshes), missed_deadlines = s.missed_deadlines,
             feeds_open = s.feeds_open, feeds = s.feeds, now = now }
end

--- {"expire": true}: every session expires now (its feeds end; the tokens answer 401).
function M.expire_all()
    local n = 0
    for _, session in pairs(state().sessions) do
        session.expires = ngx.now() - 1
        n = n + 1
    end
    return n
end

return M
