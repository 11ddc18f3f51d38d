-- What the response-handling seed calls besides the paging styles (emulator.paging):
--   Hosts QueryDevicesByFilter      numeric offset; the answer's offset is where the next page starts
--   Hosts GetDeviceDetails          POST /devices/entities/devices/v2 {ids} (FalconPy's get_device_details)
--   Hosts GetDeviceDetailsV2        GET  /devices/entities/devices/v2?ids=
--   HostGroup getHostGroups         GET  /devices/entities/host-groups/v1?ids=
--   HostGroup queryHostGroups       GET  /devices/queries/host-groups/v1
--   SampleUploads GetSampleV3       GET  /samples/entities/samples/v3?ids=<sha256>[&password_protected=true]
local envelope = require "emulator.envelope"
local json = require "emulator.json"
local paging = require "emulator.paging"
local query = require "emulator.query"
local store = require "emulator.store"

local M = {}

local array = json.array

-- limit (default 100, at most 5000) and offset of a query, or nil and the message for a 400.
local function page_window(args)
    local limit, err = query.limit(args, 100, 5000)
    if not limit then return nil, err end
    local offset
    offset, err = query.offset(args)
    if not offset then return nil, err end
    return limit, offset
end

-- The hosts API reports, as `offset`, the position after the page it answered: the seed's loop
-- (`offset = pagination.offset` while offset < total) depends on it.
function M.query_devices(req)
    local args = req.args
    local limit, offset = page_window(args)
    if not limit then return envelope.error(400, offset) end
    local matches, err
    matches, err = paging.select(args, store.data.devices, paging.device_fields, paging.device_sort,
        { field = "hostname", desc = false }, "device_id")
    if not matches then return envelope.error(400, err) end
    local page = query.page_ids(matches, offset, limit, "device_id")
    return envelope.send_json(200, envelope.envelope(page, {
        pagination = { offset = math.min(offset + #page, #matches), limit = limit, total = #matches },
    }))
end

-- The ids of a lookup, from the query (repeated or comma-separated) or from a JSON body {ids}.
local function lookup_ids(req)
    local ids = {}
    local source = req.json and req.json.ids or req.args.ids
    if type(source) == "string" then source = { source } end
    if type(source) ~= "table" then return ids end
    for _, v in ipairs(source) do
        if type(v) == "string" then
            for id in v:gmatch("[^,]+") do ids[#ids + 1] = id end
        end
    end
    return ids
end

-- Found records of `docs` (by `id_field`) as resources; an id that is not there is a 404 entry in
-- `errors` (status 404 when nothing was found), the way entity lookups answer.
local function answer_lookup(req, docs, id_field, what)
    local ids = lookup_ids(req)
    if #ids == 0 then return envelope.error(400, "ids is required") end
    local by_id = {}
    for _, doc in ipairs(docs) do by_id[doc[id_field]] = doc end
    local found, errors = array(), {}
    for _, id in ipairs(ids) do
        if by_id[id] then
            found[#found + 1] = by_id[id]
        else
            errors[#errors + 1] = { code = 404, message = what .. " " .. id .. " not found", id = id }
        end
    end
    local status = #found == 0 and 404 or 200
    return envelope.send_json(status, envelope.envelope(found, nil, errors))
end

function M.device_details(req)
    return answer_lookup(req, store.data.devices, "device_id", "device")
end

function M.host_groups(req)
    return answer_lookup(req, store.data.host_groups, "id", "host group")
end

function M.query_host_groups(req)
    local limit, offset = page_window(req.args)
    if not limit then return envelope.error(400, offset) end
    local page = query.page_ids(store.data.host_groups, offset, limit, "id")
    return envelope.send_json(200, envelope.envelope(page, {
        pagination = { offset = offset, limit = limit, total = #store.data.host_groups },
    }))
end

-- A ZIP archive holding one stored (uncompressed) file: what password_protected=true asks for. The
-- cloud encrypts it (password "infected"); the emulator's archive is not encrypted.
local function zip_one(name, bytes)
    local function u16(n) return string.char(n % 256, math.floor(n / 256) % 256) end
    local function u32(n) return u16(n % 65536) .. u16(math.floor(n / 65536)) end
    local crc = ngx.crc32_long(bytes)
    local common = u16(20) .. u16(0) .. u16(0) .. u16(0) .. u16(0x21) .. u32(crc) .. u32(#bytes) .. u32(#bytes)
        .. u16(#name) .. u16(0)
    local local_header = "PK\3\4" .. common .. name
    local central = "PK\1\2" .. u16(20) .. common .. u16(0) .. u16(0) .. u16(0) .. u32(0) .. u32(0) .. name
    local offset = #local_header + #bytes
    local finish = "PK\5\6" .. u16(0) .. u16(0) .. u16(1) .. u16(1) .. u32(#central) .. u32(offset) .. u16(0)
    return local_header .. bytes .. central .. finish
end

function M.get_sample(req)
    local id, err = query.single(req.args, "ids")
    if err then return envelope.error(400, err) end
    if id == nil or id == "" then return envelope.error(400, "ids is required") end
    local sample = store.data.samples[id:lower()]
    if not sample then
        return envelope.error(404, nil, { errors = { { code = 404, message = "sample not found", id = id } } })
    end
    local protected, perr = query.single(req.args, "password_protected")
    if perr then return envelope.error(400, perr) end
    local body, content_type = sample.bytes, "application/octet-stream"
    -- FalconPy sends Python's spelling of a boolean (True); other clients send true
    if protected and protected:lower() == "true" then
        body, content_type = zip_one(sample.name, sample.bytes), "application/zip"
    end
    ngx.status = 200
    ngx.header["Content-Type"] = content_type
    ngx.header["Content-Length"] = #body
    envelope.common_headers()
    ngx.print(body)
    return ngx.exit(ngx.OK)
end

return M
