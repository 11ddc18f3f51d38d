-- Message Center attachments: CaseAddAttachment (multipart upload) and CaseDownloadAttachment.
-- Bytes go straight from the request body to <dir>/attachments/<id> and back, byte-exact.
local clock = require "emulator.clock"
local envelope = require "emulator.envelope"
local ids = require "emulator.ids"
local json = require "emulator.json"
local multipart = require "emulator.multipart"
local query = require "emulator.query"
local store = require "emulator.store"

local M = {}

M.MIME_TYPES = {
    bmp = "image/bmp", jpg = "image/jpeg", jpeg = "image/jpeg", gif = "image/gif", png = "image/png",
    pdf = "application/pdf",
    doc = "application/msword",
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ppt = "application/vnd.ms-powerpoint",
    pptx = "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    xls = "application/vnd.ms-excel",
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    csv = "text/csv", txt = "text/plain",
}

local MAX_FIELD_BYTES = 4096

-- The file-name rules of the API; returns the lowercased extension, or nil and a message.
function M.check_name(name)
    if name == nil or name == "" then
        return nil, "file name is required"
    end
    if #name > 255 then
        return nil, "file name must be at most 255 characters"
    end
    if not name:match("^[A-Za-z0-9_-]") then
        return nil, "file name must start with a letter, a digit, '_' or '-'"
    end
    if not name:match("^[A-Za-z0-9._-]+$") then
        return nil, "file name may only contain letters, digits, '.', '_' and '-'"
    end
    local ext = name:match("%.([^.]+)$")
    ext = ext and ext:lower()
    if not ext or not M.MIME_TYPES[ext] then
        return nil, "file type not allowed; accepted: bmp, jpg, jpeg, gif, png, pdf, doc, docx, ppt, "
            .. "pptx, xls, xlsx, csv, txt"
    end
    return ext
end

local function view(a)
    return {
        id = a.id, name = a.name, size = a.size, mime_type = a.mime_type,
        created_by = a.created_by, created_time = a.created_time,
    }
end

--- Records an attachment of `case` whose bytes are in the file at `path` (moved into place), stamped by
--- the server's clock; the case's last_modified_time moves with it. Returns it, or nil and a message.
function M.record(case, name, size, created_by, path)
    local attachment = {
        id = ids.hex(32), case_id = case.id, name = name, size = size,
        mime_type = M.MIME_TYPES[(name:match("%.([^.]+)$") or ""):lower()], created_by = created_by,
        created_time = clock.stamp(),
    }
    local renamed, err = os.rename(path, store.attachment_path(attachment.id))
    if not renamed then return nil, "cannot store attachment: " .. tostring(err) end
    store.data.attachment_by_id[attachment.id] = attachment
    case.attachments[#case.attachments + 1] = view(attachment)
    case.last_modified_time = attachment.created_time
    return attachment
end

function M.upload(req)
    local boundary = multipart.boundary(req.headers["content-type"])
    if not boundary then
        return envelope.error(400, "Content-Type must be multipart/form-data with a boundary")
    end
    if not req.body_source then
        return envelope.error(400, "file is required")
    end
    local max = store.conf.attachment_max_bytes
    local fields, file = {}, nil
    local tmp_path = store.dir .. "/attachments/.upload-" .. ids.hex(16)
    local too_many_files = false

    local ok, err = multipart.parse(req.body_source, boundary, function(part)
        if part.filename ~= nil and part.name == "file" then
            if file then
                too_many_files = true
                return nil
            end
            file = { name = part.filename, size = 0, handle = assert(io.open(tmp_path, "wb")) }
            return function(chunk)
                file.size = file.size + #chunk
                -- Past the limit the upload is refused anyway: count bytes, stop writing them.
                if file.size <= max then
                    file.handle:write(chunk)
                end
            end
        elseif part.name and part.filename == nil then
            local value = {}
            local size = 0
            fields[part.name] = value
            return function(chunk)
                size = size + #chunk
                if size <= MAX_FIELD_BYTES then value[#value + 1] = chunk end
            end
        end
        return nil
    end)
    if file then
        file.handle:close()
    end
    local function refuse(status, message, extra)
        if file then os.remove(tmp_path) end
        return envelope.error(status, message, extra)
    end
    if not ok then
        return refuse(400, err)
    end
    local function field(name)
        local v = fields[name]
        return v and table.concat(v) or nil
    end
    local case_id, user_uuid = field("case_id"), field("user_uuid")
    if too_many_files then
        return refuse(400, "only one file may be uploaded per request")
    end
    if not file then
        return refuse(400, "file is required")
    end
    if case_id == nil or case_id == "" then
        return refuse(400, "case_id is required")
    end
    if user_uuid == nil or user_uuid == "" then
        return refuse(400, "user_uuid is required")
    end
    if file.size > max then
        return refuse(400, string.format("file size %d exceeds the maximum of %d bytes (15 MB)", file.size, max))
    end
    local ext, name_err = M.check_name(file.name)
    if not ext then
        return refuse(400, name_err)
    end
    local case = store.data.case_by_id[case_id]
    if not case then
        return refuse(404, nil, { errors = { { code = 404, message = "case not found", id = case_id } } })
    end

    local attachment, store_err = M.record(case, file.name, file.size, user_uuid, tmp_path)
    if not attachment then
        return refuse(500, store_err)
    end
    return envelope.send_json(200, envelope.envelope(json.array({ view(attachment) }), {
        writes = { resources_affected = 1 },
    }))
end

function M.download(req)
    local id, err = query.single(req.args, "id")
    if err then return envelope.error(400, err) end
    if id == nil or id == "" then
        return envelope.error(400, "id is required")
    end
    local attachment = store.data.attachment_by_id[id]
    if not attachment then
        return envelope.error(404, nil, { errors = { { code = 404, message = "attachment not found", id = id } } })
    end
    return envelope.send_file(store.attachment_path(id), attachment.size, attachment.name)
end

return M
