-- Response envelopes ({meta, errors, resources}) and the one place responses are written, so the
-- common headers (X-Cs-Region, X-Cs-Traceid, X-Ratelimit-*) and the faults that change an answer
-- (truncate, malformed JSON, rewritten fields, extra headers) apply to every response alike.
local clock = require "emulator.clock"
local faults = require "emulator.faults"
local json = require "emulator.json"

local M = {}

local array = json.array

function M.meta(extra)
    local ctx = ngx.ctx
    ngx.update_time()
    local meta = {
        query_time = math.floor((ngx.now() - (ctx.started or ngx.req.start_time())) * 1e6) / 1e6,
        powered_by = ctx.powered_by or "crowdstrike-api-gateway",
        trace_id = ctx.trace_id,
    }
    for k, v in pairs(extra or {}) do
        meta[k] = v
    end
    return meta
end

function M.envelope(resources, meta_extra, errors)
    return {
        meta = M.meta(meta_extra),
        errors = array(errors or {}),
        resources = resources,
    }
end

-- Headers every response carries.
function M.common_headers()
    local ctx = ngx.ctx
    ngx.header["X-Cs-Region"] = ctx.region_header or ctx.region or "us-1"
    ngx.header["X-Cs-Traceid"] = ctx.trace_id
    ngx.header["Date"] = clock.http_date() -- the server's clock, which stamps the data too
    local rate = ctx.rate
    if rate then
        -- The API names its budget on API answers, not on the token endpoint's.
        if ngx.var.uri ~= "/oauth2/token" then
            ngx.header["X-Ratelimit-Limit"] = tostring(rate.limit)
            ngx.header["X-Ratelimit-Remaining"] = tostring(rate.remaining)
        end
        if rate.limited then
            ngx.header["X-Ratelimit-Retryafter"] = tostring(rate.reset)
            ngx.header["Retry-After"] = tostring(math.max(1, math.ceil(rate.reset - ngx.now())))
        end
    end
    -- A `headers` fault: what a broken or hostile server would say instead.
    for name, value in pairs(ctx.header_fault or {}) do
        ngx.header[name] = value
    end
end

local REASONS = { [200] = "OK", [201] = "Created", [400] = "Bad Request", [401] = "Unauthorized", [429] = "Too Many Requests" }

-- ngx.header escapes control characters in values (%1B): a `headers` fault that carries them is written
-- raw on the request's own socket instead, as a hostile server would (the connection closes after it).
local function raw_header_fault()
    for _, value in pairs(ngx.ctx.header_fault or {}) do
        if value:find("%c") then return true end
    end
    return false
end

local function write_raw(body)
    local hostile = ngx.ctx.header_fault
    local lines = { ("HTTP/1.1 %d %s\r\n"):format(ngx.status, REASONS[ngx.status] or "Status") }
    local replaced = { ["content-length"] = true, connection = true }
    for name in pairs(hostile) do replaced[name:lower()] = true end
    for name, value in pairs(ngx.resp.get_headers()) do
        if not replaced[name:lower()] then
            if type(value) == "table" then value = table.concat(value, ", ") end
            lines[#lines + 1] = name .. ": " .. value .. "\r\n"
        end
    end
    for name, value in pairs(hostile) do lines[#lines + 1] = name .. ": " .. value .. "\r\n" end
    lines[#lines + 1] = "Content-Length: " .. #body .. "\r\nConnection: close\r\n\r\n"
    local sock = assert(ngx.req.socket(true))
    sock:send(table.concat(lines) .. body)
    return ngx.exit(ngx.OK)
end

-- Writes `body` honouring a pending body fault, then ends the request.
local function write_body(body)
    if raw_header_fault() then return write_raw(body) end
    local fault = ngx.ctx.body_fault
    if fault and fault.kind == "truncate" then
        -- Promise the full length, send part of it, then drop the connection.
        ngx.header["Content-Length"] = #body
        local keep = fault.bytes or math.floor(#body / 2)
        if keep >= #body then keep = math.max(#body - 1, 0) end
        ngx.print(body:sub(1, keep))
        ngx.flush(true)
        return ngx.exit(444)
    end
    if fault and fault.kind == "malformed" then
        body = fault.body or body:sub(1, math.max(1, math.floor(#body / 2)))
    end
    ngx.header["Content-Length"] = #body
    ngx.print(body)
    return ngx.exit(ngx.OK)
end

function M.send_json(status, value, headers)
    local fault = ngx.ctx.body_fault
    if fault and fault.kind == "rewrite" then
        value = faults.rewrite(value, fault.set)
    end
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    M.common_headers()
    for k, v in pairs(headers or {}) do
        ngx.header[k] = v
    end
    return write_body(json.encode(value))
end

-- The standard error envelope: {meta, errors:[{code, message}], resources?}.
function M.error(status, message, opts)
    opts = opts or {}
    local errors = opts.errors or { { code = status, message = message } }
    local body = { meta = M.meta(), errors = array(errors) }
    if opts.resources then
        body.resources = opts.resources
    end
    return M.send_json(status, body, opts.headers)
end

-- Streams a stored file as application/octet-stream, in chunks (attachments reach 15 MB).
function M.send_file(path, size, filename)
    local file = io.open(path, "rb")
    if not file then
        return M.error(500, "attachment content is missing")
    end
    ngx.status = 200
    ngx.header["Content-Type"] = "application/octet-stream"
    ngx.header["Content-Disposition"] = 'attachment; filename="' .. filename .. '"'
    ngx.header["Content-Length"] = size
    M.common_headers()
    local fault = ngx.ctx.body_fault
    local limit = size
    if fault and fault.kind == "truncate" then
        limit = fault.bytes or math.floor(size / 2)
        if limit >= size then limit = math.max(size - 1, 0) end
    end
    ngx.send_headers()
    local sent = 0
    while sent < limit do
        local chunk = file:read(math.min(262144, limit - sent))
        if not chunk then break end
        sent = sent + #chunk
        ngx.print(chunk)
        ngx.flush(true)
    end
    file:close()
    if limit < size then
        return ngx.exit(444)
    end
    return ngx.exit(ngx.OK)
end

return M
