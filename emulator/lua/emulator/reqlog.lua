-- The request log: one entry per API request (control routes are not logged), written in nginx's
-- log phase so the duration covers the whole answer. Bounded: the newest `log_limit` entries are
-- kept and each body is capped at `log_body_cap` bytes (body_length has the full size).
local store = require "emulator.store"

local M = {}

local entries, first, last = {}, 1, 0
local seq = 0

-- Called from the router once the body has been read: remembers a capped copy for the log.
function M.capture_body()
    local ctx = ngx.ctx
    local cap = store.conf.log_body_cap
    local data = ngx.req.get_body_data()
    if data then
        ctx.log_body = #data > cap and data:sub(1, cap) or data
        ctx.log_body_length = #data
        return
    end
    local path = ngx.req.get_body_file()
    if path then
        local file = io.open(path, "rb")
        if file then
            ctx.log_body = file:read(cap) or ""
            ctx.log_body_length = file:seek("end")
            file:close()
        end
    end
end

function M.record()
    local ctx = ngx.ctx
    if ctx.skip_log then
        return
    end
    ngx.update_time()
    local start = ngx.req.start_time()
    seq = seq + 1
    last = last + 1
    entries[last] = {
        id = seq,
        time = start,
        duration = ngx.now() - start,
        method = ngx.req.get_method(),
        uri = ngx.var.uri,
        args = ngx.var.args or "",
        headers = ngx.req.get_headers(200),
        body = ctx.log_body or "",
        body_length = ctx.log_body_length or tonumber(ngx.var.http_content_length) or 0,
        status = ngx.status,
        connection = tonumber(ngx.var.connection),
        connection_requests = tonumber(ngx.var.connection_requests),
        region = ctx.region,
        scheme = ngx.var.scheme,
        port = tonumber(ngx.var.server_port),
        fault = ctx.fault_kind,
    }
    while last - first + 1 > store.conf.log_limit do
        entries[first] = nil
        first = first + 1
    end
end

function M.list()
    local out = {}
    for i = first, last do
        out[#out + 1] = entries[i]
    end
    return out
end

function M.clear()
    local n = last - first + 1
    entries, first, last = {}, 1, 0
    return n
end

return M
