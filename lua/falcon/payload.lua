--- Keyword arguments -> an engine request, driven by the operation tables.
--
-- One function, `build`, serves the service classes and the Uber class, so a keyword never
-- lands in different places between them. It follows FalconPy's mapping (../shared/spec/API.md):
-- query keywords by the operation's parameter list (a list repeats the key, `csv` joins with
-- commas), `parameters=` as the whole query with explicit keywords winning, body keyword maps
-- (`content` -> body key `body`, aggregates as a one-element list, `ids` as a JSON list),
-- `body=` passed through with explicit keywords winning, path and header parameters, and
-- multipart uploads. Every check runs before a request exists: bad input raises an error
-- naming the argument and nothing is sent.
local json = require "falcon.json"

local M = {}

-- Keywords that steer the call rather than name API parameters.
local control = {
  body = true, parameters = true, expand_result = true, save_to = true, file_data = true,
  upfile = true, file_name = true, file_path = true, data = true, files = true,
  content_type = true, override = true, action = true, headers = true,
}
M.control = control

local MAX_VALUE = 65536 -- longest single query/path/header/form value we agree to send

local function fail(name, argname, what)
  error(string.format("falcon: %s: bad argument '%s' (%s)", name, argname, what), 0)
end
M.fail = fail

local floor, huge = math.floor, math.huge

local function is_integer(v)
  return type(v) == "number" and v == floor(v) and v > -huge and v < huge
end

local function is_list(t)
  if type(t) ~= "table" or t == json.null then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

--- Integral numbers print without a fraction on both Lua 5.4 and LuaJIT.
local function scalar_string(v)
  if type(v) == "number" then
    if is_integer(v) and math.abs(v) < 2^53 then return string.format("%d", v) end
    return string.format("%.17g", v)
  end
  return tostring(v)
end
M.scalar_string = scalar_string

local function check_text(name, argname, s)
  if s:find("[\r\n%z]") then fail(name, argname, "value contains CR, LF or NUL") end
  if #s > MAX_VALUE then fail(name, argname, "value longer than " .. MAX_VALUE .. " bytes") end
end

--- A value as an error message shows it: controls escaped, long values cut.
local function shown(s)
  s = s:gsub("%c", function(c) return ("\\%d"):format(c:byte()) end)
  if #s > 64 then s = s:sub(1, 64) .. "..." end
  return "'" .. s .. "'"
end
M.shown = shown

-- Multipart field names, file names and part content types are quoted inside part headers; the C
-- core refuses controls, quotes and backslashes there, so refuse them here, before any request.
local function check_part_text(name, argname, s, what)
  check_text(name, argname, s)
  if s == "" or s:find('[%c"\\]') then
    fail(name, argname, what .. " without control characters, quotes or backslashes expected, got " .. shown(s))
  end
end

local function describe(p)
  local t = p.type or "value"
  if t == "integer" or t == "number" then
    if p.min and p.max then return string.format("%s %s..%s", t, scalar_string(p.min), scalar_string(p.max)) end
    if p.min then return string.format("%s >= %s", t, scalar_string(p.min)) end
    if p.max then return string.format("%s <= %s", t, scalar_string(p.max)) end
    return t
  end
  if t == "array" then
    local item = p.items or "string"
    return item .. " or list of " .. item .. "s"
  end
  return t
end

--- Checks one scalar against a parameter spec; returns it unchanged.
local function check_scalar(name, argname, v, p, t)
  t = t or p.type
  local got = type(v)
  if t == "string" then
    if got == "number" and p.enum then
      -- a few spec entries list numbers as the values of a string parameter
      for _, allowed in ipairs(p.enum) do if allowed == v then return v end end
    end
    if got ~= "string" then fail(name, argname, describe(p) .. " expected, got " .. got) end
    if p.maxLength and #v > p.maxLength then
      fail(name, argname, "string of at most " .. p.maxLength .. " characters expected, got " .. #v)
    end
    if p.minLength and #v < p.minLength then
      fail(name, argname, "string of at least " .. p.minLength .. " characters expected, got " .. #v)
    end
  elseif t == "integer" or t == "number" then
    if got ~= "number" or (t == "integer" and not is_integer(v)) or v ~= v then
      fail(name, argname, describe(p) .. " expected, got " .. (got == "number" and "non-integer number" or got))
    end
    if (p.min and v < p.min) or (p.max and v > p.max) then
      fail(name, argname, describe(p) .. " expected, got " .. scalar_string(v))
    end
  elseif t == "boolean" then
    if got ~= "boolean" then fail(name, argname, "boolean expected, got " .. got) end
  elseif t == "object" then
    if got ~= "table" then fail(name, argname, "table expected, got " .. got) end
  elseif got == "table" or got == "function" or got == "userdata" or got == "thread" or got == "nil" then
    fail(name, argname, "string, number or boolean expected, got " .. got)
  end
  return v
end

--- Normalises an array-typed value: a list, or one scalar, or a comma-separated string.
local function as_list(name, argname, v, p, split)
  local item = { type = p.items or (p.type ~= "array" and p.type) or "string", min = p.min, max = p.max }
  local list
  if type(v) == "table" and v ~= json.null then
    if not is_list(v) then fail(name, argname, describe(p) .. " expected, got table with non-list keys") end
    list = {}
    for i, x in ipairs(v) do
      if type(x) == "table" and item.type ~= "object" then
        fail(name, argname .. "[" .. i .. "]", item.type .. " expected, got table")
      end
      list[i] = check_scalar(name, argname .. "[" .. i .. "]", x, item)
    end
  elseif type(v) == "string" and split then
    list = {}
    for part in v:gmatch("[^,]+") do
      part = part:match("^%s*(.-)%s*$")
      if part ~= "" then list[#list + 1] = part end
    end
  else
    if type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean" then
      fail(name, argname, describe(p) .. " expected, got " .. type(v))
    end
    list = { check_scalar(name, argname, v, item) }
  end
  if #list == 0 and p.required then fail(name, argname, describe(p) .. " expected, got an empty list") end
  return list
end

-- Percent-encoding for path segments (RFC 3986 unreserved characters stay).
local function encode_segment(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

---------------------------------------------------------------------------------------------
-- Uploads
---------------------------------------------------------------------------------------------

local mime_types = {
  bmp = "image/bmp", jpg = "image/jpeg", jpeg = "image/jpeg", gif = "image/gif", png = "image/png",
  pdf = "application/pdf", doc = "application/msword",
  docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  ppt = "application/vnd.ms-powerpoint",
  pptx = "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  xls = "application/vnd.ms-excel",
  xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  csv = "text/csv", txt = "text/plain", json = "application/json", zip = "application/zip",
  yaml = "application/x-yaml", yml = "application/x-yaml", xml = "application/xml",
  gz = "application/gzip", ["7z"] = "application/x-7z-compressed",
}

--- Content-Type for a file name, from its extension.
function M.mime_type(filename)
  local ext = filename:match("%.([^./]+)$")
  return ext and mime_types[ext:lower()] or "application/octet-stream"
end

local function basename(path)
  return path:match("([^/]+)/*$") or path
end

--- Size of a regular file; raises naming `argname` when it is missing or a directory.
local function file_size(name, argname, path)
  local f, err = io.open(path, "rb")
  if not f then fail(name, argname, "readable file expected: " .. tostring(err)) end
  local first, rerr = f:read(1)
  if first == nil and rerr then
    f:close()
    fail(name, argname, "regular file expected: " .. path .. ": " .. tostring(rerr))
  end
  local size = f:seek("end")
  f:close()
  return size
end

--- Checks a file name and size against the operation's upload rules (API.md for Message Center).
local function check_upload(name, op, argname, filename, size)
  check_text(name, argname, filename)
  if filename == "" then fail(name, argname, "non-empty file name expected") end
  if filename:find("%c") then
    fail(name, argname, "file name without control characters expected, got " .. shown(filename))
  end
  if filename:find('["/\\]') then fail(name, argname, "file name without quotes or slashes expected, got " .. shown(filename)) end
  local rules = op and op.upload
  if not rules then return end
  if #filename > rules.name_max then
    fail(name, argname, "file name of at most " .. rules.name_max .. " characters expected, got " .. #filename)
  end
  if not filename:match("^[%w_%-]") then
    fail(name, argname, "file name starting with A-Z, a-z, 0-9, '_' or '-' expected, got " .. shown(filename))
  end
  if filename:find("[^%w%._%-]") then
    fail(name, argname, "file name of only A-Z, a-z, 0-9, '.', '_', '-' expected, got " .. shown(filename))
  end
  local ext = (filename:match("%.([^.]+)$") or ""):lower()
  local allowed = false
  for _, e in ipairs(rules.extensions) do if e == ext then allowed = true end end
  if not allowed then
    fail(name, argname, "file extension one of " .. table.concat(rules.extensions, ", ") ..
      " expected, got '" .. (ext == "" and "(none)" or ext) .. "'")
  end
  if size > rules.max_bytes then
    fail(name, argname, string.format("file of at most %d bytes (15 MB) expected, got %d bytes", rules.max_bytes, size))
  end
end

-- The Message Center docs upload `file_data = PAYLOAD` with no file name, while the API wants one with
-- an allowed extension. For bytes whose kind is certain from their first bytes (or plain text), the name
-- is "attachment.<ext>"; anything else still needs file_name.
local SIGNATURES = {
  { "^\137PNG\r\n\26\n", "png" }, { "^\255\216\255", "jpg" }, { "^GIF8[79]a", "gif" }, { "^BM", "bmp" },
  { "^%%PDF%-", "pdf" },
}
local function sniffed_name(op, bytes)
  if not (op and op.upload) then return nil end
  local ext
  for _, sig in ipairs(SIGNATURES) do
    if bytes:find(sig[1]) then ext = sig[2]; break end
  end
  if not ext and bytes ~= "" and not bytes:sub(1, 4096):find("[%z\1-\8\14-\31\127]") then ext = "txt" end
  return ext and ("attachment." .. ext) or nil
end

--- Builds the file part of an upload from service-style keywords.
-- Sources: the file parameter's own keyword, `file_data` / `sample` / `upfile` (bytes),
-- `file_path` (streamed by the engine), or (Uber) `data` given as a string.
local function file_part(name, op, file_param, args, used)
  local bytes, source
  local keys, seen = {}, {}
  for _, k in ipairs({ file_param.name, "file_data", "sample", "upfile", "data" }) do
    if not seen[k] then keys[#keys + 1] = k; seen[k] = true end
  end
  for _, k in ipairs(keys) do
    local v = args[k]
    if v ~= nil and type(v) == "string" and (k ~= "data" or not used.data_is_form) then
      if bytes then fail(name, k, "only one of file_data, sample, upfile, " .. file_param.name ..
          " or file_path expected") end
      bytes, source = v, k
      used[k] = true
    elseif v ~= nil and k ~= "data" and type(v) ~= "string" then
      fail(name, k, "string of file bytes expected, got " .. type(v))
    end
  end
  local path = args.file_path
  if path ~= nil then
    if type(path) ~= "string" then fail(name, "file_path", "string expected, got " .. type(path)) end
    if bytes then fail(name, "file_path", "either file_path or " .. source .. " expected, not both") end
    check_text(name, "file_path", path)
    used.file_path = true
  end
  if not bytes and not path then return nil end
  local filename = args.file_name
  if filename ~= nil and type(filename) ~= "string" then
    fail(name, "file_name", "string expected, got " .. type(filename))
  end
  if filename then used.file_name = true end
  if not filename then
    filename = path and basename(path) or sniffed_name(op, bytes)
    if not filename then
      fail(name, "file_name", "file name expected with " .. source .. " (e.g. file_name = \"report.pdf\"): "
        .. "these bytes are not an image, a PDF or text, whose name could be chosen for them")
    end
  end
  local size = path and file_size(name, "file_path", path) or #bytes
  check_upload(name, op, "file_name", filename, size)
  return { name = file_param.name, data = bytes, path = path, filename = filename,
           content_type = M.mime_type(filename) }
end

--- Uber `files = { {field, {filename, bytes_or_nil, content_type, path=...}} }`.
local function uber_files(name, op, files)
  if type(files) ~= "table" then fail(name, "files", "list of {field, {name, bytes, content_type}} expected, got " ..
      type(files)) end
  local parts = {}
  for i, entry in ipairs(files) do
    local arg = "files[" .. i .. "]"
    if type(entry) ~= "table" or type(entry[1]) ~= "string" or type(entry[2]) ~= "table" then
      fail(name, arg, "{field, {name, bytes, content_type}} expected")
    end
    local spec = entry[2]
    local filename, bytes, ctype, path = spec[1], spec[2], spec[3], spec.path
    if bytes ~= nil and type(bytes) ~= "string" then fail(name, arg, "file bytes as a string expected, got " ..
        type(bytes)) end
    if path ~= nil and type(path) ~= "string" then fail(name, arg .. ".path", "string expected, got " .. type(path)) end
    if bytes == nil and path == nil then fail(name, arg, "file bytes or path= expected") end
    if filename == nil and path then filename = basename(path) end
    if type(filename) ~= "string" then fail(name, arg, "file name expected, got " .. type(filename)) end
    if ctype ~= nil then
      if type(ctype) ~= "string" then fail(name, arg, "content type string expected, got " .. type(ctype)) end
      check_part_text(name, arg, ctype, "content type")
    end
    check_part_text(name, arg, entry[1], "field name")
    local size = path and file_size(name, arg .. ".path", path) or #bytes
    check_upload(name, op, arg, filename, size)
    parts[#parts + 1] = { name = entry[1], data = bytes, path = path, filename = filename,
                          content_type = ctype or M.mime_type(filename) }
  end
  return parts
end

---------------------------------------------------------------------------------------------
-- Body
---------------------------------------------------------------------------------------------

--- JSON schema (for json.encode) of a body keyword map.
local function body_schema(op)
  local fields = {}
  for _, spec in pairs(op.body_keywords) do
    if spec.type == "array" then fields[spec.key or _] = "array" end
  end
  if op.body_shape == "list" then return { list = { fields = fields } } end
  return { fields = fields }
end

--- A shallow copy of a keyword, body or response table (nil gives an empty table). Shared by the
--- batching and paging layers, which send variations of one call.
local function copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end
M.copy = copy

local function build_body(name, op, args, used)
  local keywords = op.body_keywords
  local from_keywords = {}
  local any = false
  for kw, spec in pairs(keywords) do
    local v = args[kw]
    if v ~= nil then
      used[kw] = true
      any = true
      -- An empty id list is a 400 from the API: refused here, before the wire.
      local p = { type = spec.type, items = spec.items, required = kw == "ids" }
      if spec.type == "array" then
        v = json.array(as_list(name, kw, v, p, spec.split))
      elseif spec.type ~= "object" or v ~= json.null then
        check_scalar(name, kw, v, p)
      end
      from_keywords[spec.key or kw] = v
    end
  end
  local body = args.body
  if op.body_shape == "list" then
    if body ~= nil then
      if not is_list(body) then fail(name, "body", "list of aggregate requests expected, got " .. type(body)) end
      if any then
        -- explicit keywords win over the first request of the given list
        body = copy(body)
        body[1] = copy(type(body[1]) == "table" and body[1] or {})
        for k, v in pairs(from_keywords) do body[1][k] = v end
      end
      return body, body_schema(op)
    end
    return { from_keywords }, body_schema(op)
  end
  if body ~= nil then
    if type(body) ~= "table" then fail(name, "body", "table expected, got " .. type(body)) end
    if keywords.ids and not any and type(body.ids) == "table" and next(body.ids) == nil then
      fail(name, "body.ids", "one or more ids expected, got an empty list")
    end
    if any then
      body = copy(body)
      for k, v in pairs(from_keywords) do body[k] = v end
    end
    return body, body_schema(op)
  end
  if not any and op.positional == "ids" then
    fail(name, "ids", "string or list of strings expected, got nil")
  end
  return from_keywords, body_schema(op)
end

---------------------------------------------------------------------------------------------
-- The builder
---------------------------------------------------------------------------------------------

-- The docs type some query parameters differently from the operation tables (Message Center's `offset` is
-- "string" in the seed and in message-center.json, integer in the API's spec), and FalconPy sends whatever
-- it is given as its text. So a query parameter takes either spelling: a number for a string parameter, and
-- an integer written as a string for an integer parameter (bounds still apply). The wire gets the value's own
-- text, as FalconPy's: offset="10" and offset=10 both send offset=10.
local function check_query_scalar(name, key, v, p)
  local t = p.type
  if t == "string" and type(v) == "number" and not p.enum then
    if v ~= v or v == huge or v == -huge then fail(name, key, "string or finite number expected, got " .. tostring(v)) end
    return v
  end
  if (t == "integer" or t == "number") and type(v) == "string" then
    local n = v:match("^%-?%d+$") and tonumber(v)
    if t == "number" and not n then n = v:match("^%-?%d+%.?%d*$") and tonumber(v) end
    if not n then
      fail(name, key, describe(p) .. " (or its digits as a string) expected, got string " .. shown(v))
    end
    check_scalar(name, key, n, p)
    return v
  end
  return check_scalar(name, key, v, p)
end

local function add_query(name, query, key, v, p)
  if type(v) == "table" and v ~= json.null then
    -- A list for a scalar parameter repeats the key (FalconPy); an empty one would silently vanish.
    if next(v) == nil and p.type and p.type ~= "array" and p.type ~= "any" then
      fail(name, key, describe(p) .. " expected, got an empty table")
    end
    local list = as_list(name, key, v, p)
    if p.collectionFormat == "csv" then
      local parts = {}
      for i, x in ipairs(list) do
        local s = scalar_string(x)
        check_text(name, key, s)
        parts[i] = s
      end
      query[#query + 1] = { key, table.concat(parts, ",") }
    else
      for _, x in ipairs(list) do
        local s = scalar_string(x)
        check_text(name, key, s)
        query[#query + 1] = { key, s }
      end
    end
  else
    if p.type == "array" then
      -- one scalar (or a comma-separated string) for an array parameter
      local list = as_list(name, key, v, p, type(v) == "string")
      return add_query(name, query, key, list, p)
    end
    check_query_scalar(name, key, v, p)
    local s = scalar_string(v)
    if type(v) == "string" then check_text(name, key, s) end -- a number or boolean prints safely
    query[#query + 1] = { key, s }
  end
end

-- Per-operation facts that do not depend on the call, computed once (the tables are generated data).
local by_name_cache = setmetatable({}, { __mode = "k" })
local function params_by_name(op)
  local map = by_name_cache[op]
  if not map then
    map = {}
    for _, p in ipairs(op.params) do map[p.name] = p end
    by_name_cache[op] = map
  end
  return map
end

local UPLOAD_KEYWORDS = { "file_data", "upfile", "file_name", "file_path", "data", "sample" }

-- The common call, `query_cases{filter = ..., limit = 10}`: an operation whose only parameters are query
-- parameters, called with nothing but scalar values for them (a string for a list parameter is split by
-- add_query, as on the general path). Per operation, the facts that make it so.
local query_plans = setmetatable({}, { __mode = "k" })
local function query_plan(op)
  local plan = query_plans[op]
  if plan == nil then
    local params, by_name = {}, {}
    for _, p in ipairs(op.params) do
      if p["in"] == "query" then
        params[#params + 1], by_name[p.name] = p, p
      elseif not (p["in"] == "header" and p.engine) then -- Authorization belongs to the engine
        params = nil
        break
      end
    end
    plan = params ~= nil and not op.synthetic and not op.body_keywords
      and { params = params, by_name = by_name, binary = op.produces and op.produces ~= "application/json" or nil }
    query_plans[op] = plan
  end
  return plan
end

-- That call built without the general path's bookkeeping (same helpers, same parameter order, same
-- errors); nil when the call is anything else, and the general path takes it.
local function build_query_only(plan, op, args, name)
  for k, v in pairs(args) do
    local p = plan.by_name[k]
    if p == nil or type(v) == "table" then return nil end
  end
  local query = {}
  for _, p in ipairs(plan.params) do
    local v = args[p.name]
    if v ~= nil then
      add_query(name, query, p.name, v, p)
    elseif p.required then
      return nil -- the general path names what is missing
    end
  end
  return { method = op.method, route = op.route, query = query, operation = op.id, binary = plan.binary }
end

--- Builds the engine request for an operation.
-- @tparam table op operation record from falcon.endpoints (or a synthetic one for overrides)
-- @tparam table args keyword arguments
-- @tparam[opt] string name the caller's name for the operation, for messages (default: its id)
-- @treturn table request for `client:request`
function M.build(op, args, name)
  name = name or op.id
  if type(args) ~= "table" then fail(name, "arguments", "table of keyword arguments expected, got " .. type(args)) end
  local plan = query_plan(op)
  return plan and build_query_only(plan, op, args, name) or M.build_general(op, args, name)
end

--- The general path of `build` (every keyword, upload, body and header rule); `build` takes it for
-- every call the query-only path does not cover. Separate so that a spec can hold the two to the same
-- answers.
function M.build_general(op, args, name)
  name = name or op.id
  local used = {}
  local query, headers, form = {}, {}, nil
  local route = op.route
  local body, schema
  local file_param
  local has_body_param = false
  local data_used -- form fields taken from Uber `data = {...}`

  -- parameters= : the whole query string, overridden below by explicit keywords
  local parameters = args.parameters
  if parameters ~= nil and type(parameters) ~= "table" then
    fail(name, "parameters", "table expected, got " .. type(parameters))
  end
  local param_by_name = params_by_name(op)
  if parameters then
    local explicit = {}
    for _, p in ipairs(op.params) do
      if p["in"] == "query" and args[p.name] ~= nil then explicit[p.name] = true end
    end
    local keys = {}
    for k in pairs(parameters) do
      if type(k) ~= "string" then fail(name, "parameters", "string keys expected, got " .. type(k)) end
      keys[#keys + 1] = k
    end
    table.sort(keys) -- a stable wire order for pass-through tables
    for _, k in ipairs(keys) do
      if not explicit[k] then
        local p = param_by_name[k]
        if not (p and p["in"] == "query") then p = { type = type(parameters[k]) == "table" and "array" or "any" } end
        add_query(name, query, k, parameters[k], p)
      end
    end
  end

  for _, p in ipairs(op.params) do
    local where, key = p["in"], p.name
    local v = args[key]
    if where == "query" then
      if v ~= nil then
        used[key] = true
        add_query(name, query, key, v, p)
      elseif p.required and not (parameters and parameters[key] ~= nil) then
        fail(name, key, describe(p) .. " expected, got nil")
      end
    elseif where == "path" then
      if v == nil then fail(name, key, describe(p) .. " expected, got nil") end
      used[key] = true
      check_scalar(name, key, v, p)
      local s = scalar_string(v)
      check_text(name, key, s)
      if s == "" then fail(name, key, "non-empty " .. describe(p) .. " expected") end
      route = route:gsub("{" .. key:gsub("%p", "%%%0") .. "}", (encode_segment(s):gsub("%%", "%%%%")))
    elseif where == "header" then
      if v ~= nil and not p.engine then -- Authorization belongs to the engine
        used[key] = true
        check_scalar(name, key, v, p)
        local s = scalar_string(v)
        check_text(name, key, s)
        headers[key] = s
      elseif p.required and not p.engine then
        fail(name, key, describe(p) .. " expected, got nil")
      end
    elseif where == "formData" then
      form = form or {}
      -- Uber `data = {field = value}` supplies form fields too
      if v == nil and type(args.data) == "table" and args.data[key] ~= nil and p.type ~= "file" then
        v = args.data[key]
        data_used = data_used or {}
        data_used[key] = true
      end
      if p.type == "file" then
        file_param = p
      elseif v ~= nil then
        used[key] = true
        local values = p.type == "array" and as_list(name, key, v, p, type(v) == "string") or { check_scalar(name,
            key, v, p) }
        for _, x in ipairs(values) do
          local s = scalar_string(x)
          check_text(name, key, s)
          form[#form + 1] = { name = key, value = s }
        end
      elseif p.required and not (key == "file_name" and args.file_path) then
        fail(name, key, describe(p) .. " expected, got nil")
      end
    elseif where == "body" then
      has_body_param = true
    end
  end

  -- Upload: a file part from the service keywords, Uber `files`, and Uber `data` form fields.
  if type(args.data) == "table" then
    used.data_is_form = true
    used.data = true
    form = form or {}
    local keys = {}
    for k in pairs(args.data) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
      if type(k) ~= "string" then fail(name, "data", "table of form fields expected") end
      check_part_text(name, "data", k, "field name")
      if not (data_used and data_used[k]) then
        local v = args.data[k]
        local values = type(v) == "table" and as_list(name, "data." .. k, v, { type = "array", items = "any" }) or { v }
        for _, x in ipairs(values) do
          check_scalar(name, "data." .. k, x, { type = "any" })
          local s = scalar_string(x)
          check_text(name, "data." .. k, s)
          form[#form + 1] = { name = k, value = s }
        end
      end
    end
  elseif args.data ~= nil and type(args.data) ~= "string" then
    fail(name, "data", "table of form fields (or file bytes) expected, got " .. type(args.data))
  end
  if args.files ~= nil then
    used.files = true
    form = form or {}
    for _, part in ipairs(uber_files(name, op, args.files)) do form[#form + 1] = part end
  end
  if file_param or (op.synthetic and (args.file_data or args.file_path or args.upfile
      or type(args.data) == "string")) then
    file_param = file_param or { name = "file", type = "file" }
    local part = file_part(name, op, file_param, args, used)
    if part then
      form = form or {}
      form[#form + 1] = part
      -- Operations with a `file_name` form field (e.g. UploadSampleV3) also get it as a field.
      if param_by_name.file_name and param_by_name.file_name["in"] == "formData" and args.file_name == nil then
        form[#form + 1] = { name = "file_name", value = part.filename }
      end
    elseif file_param.required and not args.files then
      fail(name, "file_data", "file bytes (file_data) or file_path expected, got nil")
    end
  end

  -- JSON body
  if op.body_keywords then
    body, schema = build_body(name, op, args, used)
  elseif args.body ~= nil then
    if type(args.body) ~= "table" then fail(name, "body", "table expected, got " .. type(args.body)) end
    body = args.body
  elseif has_body_param and args.ids ~= nil then
    -- MsaIdsRequest convention for body-only entity lookups: ids -> {"ids": [...]}
    used.ids = true
    body = { ids = json.array(as_list(name, "ids", args.ids, { type = "array", items = "string", required = true },
        true)) }
  elseif has_body_param then
    local bp
    for _, p in ipairs(op.params) do if p["in"] == "body" then bp = p end end
    if bp and bp.required and not op.synthetic then body = {} end
  end

  -- Upload keywords on an operation that uploads nothing are mistakes, not no-ops.
  if args.file_data ~= nil or args.upfile ~= nil or args.file_name ~= nil or args.file_path ~= nil
      or args.data ~= nil or args.sample ~= nil then
    for _, k in ipairs(UPLOAD_KEYWORDS) do
      if args[k] ~= nil and not used[k] and not op.synthetic and not (param_by_name[k]
          and param_by_name[k]["in"] ~= "body") then
        fail(name, k, "not accepted: this operation uploads no file")
      end
    end
  end
  if args.body ~= nil and not has_body_param and not op.body_keywords and not op.synthetic then
    fail(name, "body", "not accepted: this operation takes no JSON body")
  end

  -- Anything left over is a keyword this operation does not know.
  for k, v in pairs(args) do
    if type(k) == "string" and v ~= nil and not used[k] and not control[k] then
      if op.synthetic then
        add_query(name, query, k, v, { type = type(v) == "table" and "array" or "any" })
      else
        local known = {}
        for _, p in ipairs(op.params) do
          if p["in"] ~= "body" and not p.engine and p.type ~= "file" then known[#known + 1] = p.name end
        end
        for kw in pairs(op.body_keywords or {}) do known[#known + 1] = kw end
        if has_body_param and not op.body_keywords then known[#known + 1] = "ids" end
        if has_body_param or op.body_keywords then known[#known + 1] = "body" end
        for _, p in ipairs(op.params) do
          if p["in"] == "query" then known[#known + 1] = "parameters"; break end
        end
        if file_param then known[#known + 1] = "file_data, file_name, file_path" end
        table.sort(known)
        fail(name, k, "unknown keyword; expected one of: " .. table.concat(known, ", "))
      end
    elseif type(k) ~= "string" then
      fail(name, tostring(k), "keyword arguments expected (positional values are taken only as ids)")
    end
  end

  -- Uber `headers = {...}` and `content_type`
  if args.headers ~= nil then
    if type(args.headers) ~= "table" then fail(name, "headers", "table expected, got " .. type(args.headers)) end
    for k, v in pairs(args.headers) do
      if type(k) ~= "string" or k:find("[^%w%-_]") then fail(name, "headers",
          "header names of letters, digits and '-' expected") end
      check_scalar(name, "headers." .. k, v, { type = "any" })
      local s = scalar_string(v)
      check_text(name, "headers." .. k, s)
      headers[k] = s
    end
  end
  local content_type = args.content_type
  if content_type ~= nil then
    if type(content_type) ~= "string" then fail(name, "content_type", "string expected, got " .. type(content_type)) end
    check_text(name, "content_type", content_type)
  end

  if args.save_to ~= nil then
    if type(args.save_to) ~= "string" or args.save_to == "" then
      fail(name, "save_to", "file path string expected, got " .. type(args.save_to))
    end
    check_text(name, "save_to", args.save_to)
  end
  if args.expand_result ~= nil and type(args.expand_result) ~= "boolean" then
    fail(name, "expand_result", "boolean expected, got " .. type(args.expand_result))
  end

  local request = {
    method = op.method, route = route, query = query, operation = op.id,
    save_to = args.save_to,
  }
  if next(headers) then request.headers = headers end
  if form and #form > 0 then
    if body ~= nil then fail(name, "body", "either a JSON body or multipart form data expected, not both") end
    request.form = form
  elseif body ~= nil then
    request.body = json.encode(body, schema)
    request.content_type = "application/json"
  end
  if content_type and not (content_type:lower():find("^multipart/") and request.form) then
    request.content_type = content_type
  end
  if op.produces and op.produces ~= "application/json" then request.binary = true end
  return request
end

--- Merges positional arguments into a keyword table.
-- `f("A,B")`, `f{"A","B"}`, `f("A", {kw...})`, `f({"A","B"}, {kw...})` and `f{ids=..., ...}`.
-- The positional value goes to `op.positional`, else to an `ids` / `id` parameter.
local target_cache = setmetatable({}, { __mode = "k" })
local function positional_target(op)
  local target = target_cache[op]
  if target ~= nil then return target or nil end
  target = op.positional
  if not target then
    for _, p in ipairs(op.params) do
      if p.name == "ids" and p["in"] ~= "body" then target = "ids" end
    end
    if not target then
      for _, p in ipairs(op.params) do if p["in"] == "body" then target = "ids" end end
    end
    if not target then
      for _, p in ipairs(op.params) do if p.name == "id" and p["in"] ~= "body" then target = "id" end end
    end
  end
  target_cache[op] = target or false
  return target
end

function M.merge_positional(op, name, a1, a2)
  local target = positional_target(op)
  local kw, positional
  if a1 == nil then
    kw = a2 or {}
  elseif type(a1) == "string" or type(a1) == "number" then
    positional, kw = a1, a2 or {}
  elseif type(a1) == "table" then
    if a2 ~= nil then
      positional, kw = a1, a2
    elseif #a1 > 0 then
      -- {"A", "B", limit = 5}: the array part is the positional ids
      kw = {}
      local list = {}
      for k, v in pairs(a1) do
        if type(k) == "number" then list[k] = v else kw[k] = v end
      end
      positional = list
    else
      kw = a1
    end
  else
    fail(name, "arguments", "table of keyword arguments expected, got " .. type(a1))
  end
  if type(kw) ~= "table" then fail(name, "arguments", "table of keyword arguments expected, got " .. type(kw)) end
  if positional ~= nil then
    if not target then fail(name, "arguments", "keyword table expected; this operation takes no positional ids") end
    if kw[target] ~= nil then fail(name, target, "given both positionally and as a keyword") end
    local merged = {}
    for k, v in pairs(kw) do merged[k] = v end
    if target == "id" and type(positional) == "table" then
      if #positional ~= 1 then fail(name, "id", "one id expected, got a list of " .. #positional) end
      positional = positional[1]
    end
    merged[target] = positional
    kw = merged
  end
  return kw
end

return M
