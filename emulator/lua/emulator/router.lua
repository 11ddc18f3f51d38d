-- Entry point of every request: control routes, then per-route delays and faults, the rate limit,
-- routing (404/405), authentication and scopes, body decoding, and finally the operation handler.
local activities = require "emulator.activities"
local aggregates = require "emulator.aggregates"
local attachments = require "emulator.attachments"
local cases = require "emulator.cases"
local control = require "emulator.control"
local envelope = require "emulator.envelope"
local faults = require "emulator.faults"
local graphql = require "emulator.graphql"
local hosts = require "emulator.hosts"
local ids = require "emulator.ids"
local json = require "emulator.json"
local oauth = require "emulator.oauth"
local paging = require "emulator.paging"
local ratelimit = require "emulator.ratelimit"
local reqlog = require "emulator.reqlog"
local streams = require "emulator.streams"

local M = {}

local READ, WRITE = "message-center:read", "message-center:write"
local MC = "messagecenter-api"

-- body: "json" (decoded into req.json), "form" (req.body_text), "multipart" (req.body_source).
local ROUTES = {
    ["POST /oauth2/token"] = { handler = oauth.token, public = true, body = "form", powered_by = "csam" },
    ["POST /oauth2/revoke"] = { handler = oauth.revoke, public = true, body = "form", powered_by = "csam" },
    ["POST /message-center/aggregates/cases/GET/v1"] = { handler = aggregates.aggregate, scope = READ, body = "json" },
    ["POST /message-center/entities/case-activities/GET/v1"] = { handler = activities.get, scope = READ, body = "json" },
    ["POST /message-center/entities/case-activity/v1"] = { handler = activities.add, scope = WRITE, body = "json" },
    ["GET /message-center/entities/case-attachment/v1"] = { handler = attachments.download, scope = READ },
    ["POST /message-center/entities/case-attachment/v1"] = { handler = attachments.upload, scope = WRITE, body = "multipart" },
    ["POST /message-center/entities/case/v1"] = { handler = cases.create_v1, scope = WRITE, body = "json" },
    ["POST /message-center/entities/case/v2"] = { handler = cases.create_v2, scope = WRITE, body = "json" },
    ["PATCH /message-center/entities/case/v1"] = { handler = cases.update, scope = WRITE, body = "json" },
    ["POST /message-center/entities/cases/GET/v1"] = { handler = cases.get, scope = READ, body = "json" },
    ["GET /message-center/queries/case-activities/v1"] = { handler = activities.query, scope = READ },
    ["GET /message-center/queries/cases/v1"] = { handler = cases.query, scope = READ },
    ["GET /spotlight/queries/vulnerabilities/v1"] = {
        handler = paging.spotlight_vulnerabilities, scope = "spotlight-vulnerabilities:read", powered_by = "spotlight-api" },
    ["GET /intel/combined/indicators/v1"] = {
        handler = paging.intel_indicator_entities, scope = "intel:read", powered_by = "intel-api" },
    ["GET /intel/queries/indicators/v1"] = {
        handler = paging.intel_indicator_ids, scope = "intel:read", powered_by = "intel-api" },
    ["GET /devices/queries/devices-scroll/v1"] = {
        handler = paging.devices_scroll, scope = "hosts:read", powered_by = "device-api" },
    ["GET /devices/queries/devices/v1"] = {
        handler = hosts.query_devices, scope = "hosts:read", powered_by = "device-api" },
    ["POST /devices/entities/devices/v2"] = {
        handler = hosts.device_details, scope = "hosts:read", body = "json", powered_by = "device-api" },
    ["GET /devices/entities/devices/v2"] = {
        handler = hosts.device_details, scope = "hosts:read", powered_by = "device-api" },
    ["GET /devices/entities/host-groups/v1"] = {
        handler = hosts.host_groups, scope = "host-group:read", powered_by = "device-api" },
    ["GET /devices/queries/host-groups/v1"] = {
        handler = hosts.query_host_groups, scope = "host-group:read", powered_by = "device-api" },
    ["GET /samples/entities/samples/v3"] = {
        handler = hosts.get_sample, scope = "samples:read", powered_by = "samples-api" },
    ["POST /identity-protection/combined/graphql/v1"] = {
        handler = graphql.handle, scope = "identity-protection-graphql:write", body = "json", powered_by = "idp-api" },
    ["GET /sensors/entities/datafeed/v2"] = { handler = streams.discover, scope = streams.SCOPE, powered_by = "streaming-api" },
}

-- Routes with the partition in the path: {method, pattern, route}; the handler gets the partition too.
local PATH_ROUTES = {
    { "GET", streams.FEED, { handler = streams.feed, public = true, powered_by = "streaming-api" } }, -- Token auth
    { "POST", streams.REFRESH, { handler = streams.refresh, scope = streams.SCOPE, powered_by = "streaming-api" } },
}

local function path_route(method, path)
    for _, candidate in ipairs(PATH_ROUTES) do
        local partition = path:match(candidate[2])
        if partition and candidate[1] == method then return candidate[3], tonumber(partition) end
    end
end

local KNOWN_PATHS = {}
for key in pairs(ROUTES) do
    KNOWN_PATHS[key:match("^%S+ (.*)$")] = true
end

local FAULT_MESSAGES = {
    [401] = "access denied, invalid bearer token",
    [429] = "API rate limit exceeded.",
    [500] = "internal server error",
    [502] = "bad gateway",
    [503] = "service unavailable",
}

local function begin()
    ngx.update_time()
    local ctx = ngx.ctx
    ctx.started = ngx.now()
    ctx.trace_id = ids.uuid()
    ctx.region = ngx.var.falcon_region
    return ctx
end

local function whole_body()
    local data = ngx.req.get_body_data()
    if data then
        return data, { data = data }
    end
    local path = ngx.req.get_body_file()
    if not path then
        return nil, nil
    end
    local file = io.open(path, "rb")
    local text = file and file:read("*a")
    if file then file:close() end
    return text, { path = path }
end

local function send_fault(fault)
    if fault.status == 429 then
        local rate = ngx.ctx.rate or {}
        ngx.ctx.rate = { limit = rate.limit or 0, remaining = 0, reset = math.ceil(ngx.now() + fault.retry_after),
                         limited = true }
    end
    return envelope.error(fault.status, fault.message or FAULT_MESSAGES[fault.status] or "injected fault")
end

local function dispatch(ctx)
    local method = ngx.req.get_method()
    local path = ngx.var.uri
    ngx.req.read_body()
    reqlog.capture_body()

    local route, partition = ROUTES[method .. " " .. path], nil
    if not route then route, partition = path_route(method, path) end
    local req = {
        route = path,
        method = method,
        args = ngx.req.get_uri_args(200),
        headers = ngx.req.get_headers(200),
    }
    if route and route.body == "multipart" then
        -- Only the location: multipart bodies are streamed, never read whole.
        local data = ngx.req.get_body_data()
        local file = not data and ngx.req.get_body_file()
        req.body_source = data and { data = data } or (file and { path = file }) or nil
    else
        req.body_text = whole_body()
    end

    ctx.powered_by = route and route.powered_by or MC
    -- The budget is counted before faults: the cloud also counts requests it then fails.
    local within_budget = ratelimit.consume(oauth.client_hint(req) or "anonymous")

    local delay = faults.delay_for(method, path)
    if delay > 0 then
        ngx.sleep(delay)
    end
    local fault = faults.take(method, path)
    if fault then
        ctx.fault_kind = fault.kind
        ctx.header_fault = fault.headers
        if fault.delay and fault.delay > 0 then
            ngx.sleep(fault.delay)
        end
        if fault.kind == "reset" then
            return ngx.exit(444)
        elseif fault.kind == "status" then
            return send_fault(fault)
        elseif fault.kind == "truncate" or fault.kind == "malformed" or fault.kind == "rewrite" then
            ctx.body_fault = fault
        end
    end

    if not within_budget then
        return envelope.error(429, FAULT_MESSAGES[429])
    end
    if not route then
        if KNOWN_PATHS[path] then
            return envelope.error(405, "method " .. method .. " not allowed on " .. path)
        end
        return envelope.error(404, "Not Found")
    end
    if not route.public then
        req.token = oauth.authorize(req, route.scope)
        if not req.token then
            return
        end
    end
    if route.body == "json" then
        if not req.body_text or not req.body_text:match("%S") then
            return envelope.error(400, "request body is required")
        end
        local value, err = json.decode(req.body_text)
        if value == nil then
            return envelope.error(400, "invalid JSON in request body: " .. tostring(err))
        end
        req.json = value
    end
    return route.handler(req, partition)
end

function M.handle()
    local ctx = begin()
    local name = ngx.var.uri:match("^/_emulator/([%w_]*)/?$")
    if name then
        ctx.skip_log = true
        return control.handle(name)
    end
    local ok, err = pcall(dispatch, ctx)
    if not ok then
        ngx.log(ngx.ERR, "emulator handler failed: ", tostring(err))
        if not ngx.headers_sent then
            return envelope.error(500, "emulator internal error: " .. tostring(err))
        end
        return ngx.exit(ngx.ERROR)
    end
end

-- error_page target for bodies larger than client_max_body_size.
function M.too_large()
    begin()
    ratelimit.consume("anonymous")
    return envelope.error(413, "request body too large")
end

return M
