-- Response envelopes ({meta, errors, resources}) and the one place responses are written, so the
-- common headers (X-Cs-Region, X-Cs-Traceid, X-Ratelimit-*) and the body faults (truncate,
-- malformed JSON) apply to every response alike.
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
    local rate = ctx.rate
    if rate then
        ngx.header["X-Ratelimit-Limit"] = tostring(rate.limit)
        ngx.header["X-Ratelimit-Remaining"] = tostring(rate.remaining)
        if rate.limited then
            ngx.header["X-Ratelimit-Retryafter"] = tostring(rate.reset)
            ngx.header["Retry-After"] = tostring(math.max(1, math.ceil(rate.reset - ngx.now())))
        end
    end
end

-- Writes `body` honouring a pending body fault, then ends the request.
local function write_body(body)
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
