-- Query-string parameters shared by the query operations: limit, offset, sort, filter — parsed and
-- validated the way the API answers (400 with a message), plus sorting and slicing of results.
local envelope = require "emulator.envelope"
local fql = require "emulator.fql"
local json = require "emulator.json"

local M = {}

function M.args()
    return ngx.req.get_uri_args(200)
end

-- A parameter that must appear at most once. Returns value (string or nil), or nil and a message.
function M.single(args, name)
    local v = args[name]
    if type(v) == "table" then
        return nil, "parameter '" .. name .. "' given more than once"
    end
    if v == true then
        return ""
    end
    return v
end

local function integer(args, name)
    local v, err = M.single(args, name)
    if err then return nil, err end
    if v == nil or v == "" then return nil end
    local n = tonumber(v)
    if not n or n ~= math.floor(n) or not v:match("^%s*[+-]?%d+%s*$") then
        return false, "parameter '" .. name .. "' must be an integer, got '" .. v .. "'"
    end
    return n
end

function M.limit(args, default, max)
    local n, err = integer(args, "limit")
    if n == false or err then return nil, err end
    if n == nil then return default end
    if n < 1 or n > max then
        return nil, string.format("limit must be between 1 and %d, got %d", max, n)
    end
    return n
end

function M.offset(args)
    local n, err = integer(args, "offset")
    if n == false or err then return nil, err end
    if n == nil then return 0 end
    if n < 0 then
        return nil, "offset must not be negative"
    end
    return n
end

-- Repeated `filter` parameters (a list on the client side) are joined with AND.
function M.filter(args)
    local v = args.filter
    if type(v) == "table" then
        local parts = {}
        for i, f in ipairs(v) do
            parts[i] = "(" .. tostring(f) .. ")"
        end
        return table.concat(parts, "+")
    end
    if v == true then return nil end
    return v
end

-- "field.asc", "field.desc", "field|asc", "field|desc" or "field" (ascending).
-- `sortable` maps field names to true. Returns {field, desc}, or nil and a message.
function M.parse_sort(text, sortable, default)
    if text == nil or text == "" then
        return default
    end
    local field, dir = text:match("^(.-)[.|](asc)$")
    if not field then
        field, dir = text:match("^(.-)[.|](desc)$")
    end
    if not field then
        field, dir = text, "asc"
    end
    if not sortable[field] then
        local names = {}
        for name in pairs(sortable) do names[#names + 1] = name end
        table.sort(names)
        return nil, "invalid sort field '" .. field .. "'; sortable fields: " .. table.concat(names, ", ")
    end
    return { field = field, desc = (dir == "desc") }
end

-- Sort key of a document for a field definition: dates as instants, lists by their first element.
local function sort_key(def, doc)
    local v = def.get(doc)
    if type(v) == "table" then v = v[1] end
    if def.kind == "date" then
        return fql.epoch(v)
    end
    return v
end

-- Stable, total order: the field (missing values last), then `id_field` ascending.
function M.sort_docs(docs, def, desc, id_field)
    local keys = {}
    for _, d in ipairs(docs) do
        keys[d] = sort_key(def, d)
    end
    table.sort(docs, function(a, b)
        local ka, kb = keys[a], keys[b]
        if ka ~= kb then
            if ka == nil then return false end
            if kb == nil then return true end
            if desc then return ka > kb end
            return ka < kb
        end
        return a[id_field] < b[id_field]
    end)
    return docs
end

function M.filter_docs(docs, pred)
    local out = {}
    for _, d in ipairs(docs) do
        if pred(d) then
            out[#out + 1] = d
        end
    end
    return out
end

function M.slice(list, offset, limit)
    local out = {}
    for i = offset + 1, math.min(offset + limit, #list) do
        out[#out + 1] = list[i]
    end
    return out
end

-- The ids (field `id_field`) of docs[offset+1 .. offset+limit], as a JSON array.
function M.page_ids(docs, offset, limit, id_field)
    local page = json.array()
    for i, doc in ipairs(M.slice(docs, offset, limit)) do
        page[i] = doc[id_field]
    end
    return page
end

-- A whole query operation over `docs`: limit/offset/sort/filter read and checked (400 on a bad one),
-- the matching ids answered as one page with {offset, limit, total}. `kind` carries the collection's
-- fields, sortable fields and default sort.
function M.answer_ids(args, docs, kind)
    local limit, err = M.limit(args, 100, 500)
    if not limit then return envelope.error(400, err) end
    local offset
    offset, err = M.offset(args)
    if not offset then return envelope.error(400, err) end
    local sort_text
    sort_text, err = M.single(args, "sort")
    if err then return envelope.error(400, err) end
    local sort
    sort, err = M.parse_sort(sort_text, kind.sortable, kind.default_sort)
    if not sort then return envelope.error(400, err) end
    local pred
    pred, err = fql.compile(M.filter(args), kind.fields)
    if not pred then return envelope.error(400, err) end

    local matches = M.filter_docs(docs, pred)
    M.sort_docs(matches, kind.fields[sort.field], sort.desc, "id")
    local page = M.page_ids(matches, offset, limit, "id")
    return envelope.send_json(200, envelope.envelope(page, {
        pagination = { offset = offset, limit = limit, total = #matches },
    }))
end

return M
