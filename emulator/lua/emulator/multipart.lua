-- Streaming multipart/form-data parser. Reads the request body in 64 KiB chunks (from memory or from
-- the file nginx spooled it to) and hands each part's bytes to a sink as they are found, so a 15 MB
-- upload is never held in memory whole, let alone twice.
local M = {}

local CHUNK = 65536
local MAX_HEADER_BYTES = 16384

-- Boundary from a Content-Type header value, or nil.
function M.boundary(content_type)
    if type(content_type) ~= "string" or not content_type:lower():match("^%s*multipart/form%-data") then
        return nil
    end
    local b = content_type:match(';%s*[Bb][Oo][Uu][Nn][Dd][Aa][Rr][Yy]="([^"]+)"')
        or content_type:match(";%s*[Bb][Oo][Uu][Nn][Dd][Aa][Rr][Yy]=([^;%s]+)")
    return b
end

local function reader(source)
    if source.data then
        local done = false
        return function()
            if done then return nil end
            done = true
            return source.data
        end
    end
    local file, err = io.open(source.path, "rb")
    if not file then
        error({ multipart = true, message = "cannot read request body: " .. tostring(err) }, 0)
    end
    return function()
        if not file then return nil end
        local chunk = file:read(CHUNK)
        if not chunk then
            file:close()
            file = nil
        end
        return chunk
    end
end

-- `name="value"` / `name=value` parameters of a header value (after its first token), names lowercased.
local function header_params(value)
    local params = {}
    local pos = 1
    while pos <= #value do
        local s, e, name = value:find("^[%s;]*([^=;%s]+)%s*=%s*", pos)
        if not s then
            break
        end
        pos = e + 1
        local v
        if value:sub(pos, pos) == '"' then
            local out, i = {}, pos + 1
            while i <= #value do
                local c = value:sub(i, i)
                if c == "\\" then
                    out[#out + 1] = value:sub(i + 1, i + 1)
                    i = i + 2
                elseif c == '"' then
                    break
                else
                    out[#out + 1] = c
                    i = i + 1
                end
            end
            v = table.concat(out)
            pos = i + 1
        else
            v = value:match("^[^;]*", pos)
            pos = pos + #v
            v = v:gsub("%s+$", "")
        end
        params[name:lower()] = v
        local semi = value:find(";", pos, true)
        if not semi then
            break
        end
        pos = semi
    end
    return params
end

local function parse_headers(block)
    local part = { headers = {} }
    for line in (block .. "\r\n"):gmatch("(.-)\r\n") do
        local name, value = line:match("^([^:]+):%s*(.-)%s*$")
        if name then
            part.headers[name:lower()] = value
        end
    end
    local disposition = part.headers["content-disposition"]
    if disposition then
        local params = header_params((disposition:gsub("^[^;]*", "")))
        part.name = params.name
        part.filename = params.filename
    end
    part.content_type = part.headers["content-type"]
    return part
end

-- Parses `source` ({data = string} or {path = file}) with `boundary`. For each part,
-- `on_part(part)` gets {name, filename, content_type, headers} and returns a sink function(chunk)
-- (or nil to discard the part); `on_end(part)` is called when the part is complete.
-- Returns true, or nil and a message for a malformed body.
function M.parse(source, boundary, on_part, on_end)
    local ok, err = pcall(function()
        local read = reader(source)
        local delim = "\r\n--" .. boundary
        -- A leading CRLF makes the first boundary line look like every other delimiter.
        local buf = "\r\n"
        local function fill()
            local chunk = read()
            if not chunk then
                return false
            end
            buf = buf .. chunk
            return true
        end
        local function fail(message)
            error({ multipart = true, message = message }, 0)
        end

        -- Preamble: everything before the first delimiter is ignored.
        while true do
            local _, e = buf:find(delim, 1, true)
            if e then
                buf = buf:sub(e + 1)
                break
            end
            buf = buf:sub(-(#delim - 1))
            if not fill() then fail("multipart body has no boundary '" .. boundary .. "'") end
        end

        while true do
            while #buf < 2 do
                if not fill() then fail("multipart body ends after a boundary") end
            end
            if buf:sub(1, 2) == "--" then
                return -- closing delimiter; any epilogue is ignored
            end
            -- Skip transport padding, then the CRLF ending the delimiter line.
            while true do
                local s, e = buf:find("^[ \t]*\r\n")
                if s then
                    buf = buf:sub(e + 1)
                    break
                end
                if #buf > 256 or not fill() then fail("malformed multipart delimiter line") end
            end

            local part
            if buf:sub(1, 2) == "\r\n" then
                part = parse_headers("")
                buf = buf:sub(3)
            else
                while true do
                    local s, e = buf:find("\r\n\r\n", 1, true)
                    if s then
                        part = parse_headers(buf:sub(1, s - 1))
                        buf = buf:sub(e + 1)
                        break
                    end
                    if #buf > MAX_HEADER_BYTES then fail("multipart part headers too large") end
                    if not fill() then fail("multipart part headers not terminated") end
                end
            end

            local sink = on_part(part)
            while true do
                local s, e = buf:find(delim, 1, true)
                if s then
                    if sink and s > 1 then sink(buf:sub(1, s - 1)) end
                    buf = buf:sub(e + 1)
                    break
                end
                -- Keep a tail that could be the start of a delimiter split across chunks.
                local safe = #buf - (#delim - 1)
                if safe > 0 then
                    if sink then sink(buf:sub(1, safe)) end
                    buf = buf:sub(safe + 1)
                end
                if not fill() then fail("multipart body ends inside a part") end
            end
            if on_end then on_end(part) end
        end
    end)
    if ok then
        return true
    end
    if type(err) == "table" and err.multipart then
        return nil, err.message
    end
    error(err, 0)
end

return M
