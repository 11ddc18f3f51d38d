--- The Uber class's forms of a call, turned into what the call layer (falcon.call) takes: the service
--- classes' keywords, plus an `extra` table of what is already checked and built (form parts, headers,
--- a Content-Type). The Uber class calls `keywords` before it calls the call layer, and so does a service
--- object's override() (FalconPy's takes the same forms); `override_op` is the operation both make of
--- `override = "METHOD,/route"`.
---
---   data = { field = value }            a field the operation names as a form-data parameter becomes that
---                                       keyword (unless given as one); every other one a form part
---   data = "bytes"                      stays a keyword: the body or file bytes, as for the service classes
---   files = { {field, {name, bytes_or_nil, content_type, path = ...}} }   ready multipart parts
---   headers = { Name = value }          extra request headers (checked, as text)
---   content_type = "..."                the request's Content-Type (not for multipart, which needs its boundary)
local check = require "falcon.payload.check"
local upload = require "falcon.payload.upload"
local util = require "falcon.base.util"

local fail = check.fail

local M = {}

--- Uber `files = { {field, {filename, bytes_or_nil, content_type, path=...}} }` as multipart parts.
local function file_parts(name, op, files)
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
    if filename == nil and path then filename = upload.basename(path) end
    if type(filename) ~= "string" then fail(name, arg, "file name expected, got " .. type(filename)) end
    if ctype ~= nil then
      if type(ctype) ~= "string" then fail(name, arg, "content type string expected, got " .. type(ctype)) end
      check.check_part_text(name, arg, ctype, "content type")
    end
    check.check_part_text(name, arg, entry[1], "field name")
    local size = path and upload.file_size(name, arg .. ".path", path) or #bytes
    upload.check_upload(name, op, arg, filename, size)
    parts[#parts + 1] = { name = entry[1], data = bytes, path = path, filename = filename,
                          content_type = ctype or upload.mime_type(filename) }
  end
  return parts
end

-- Uber `data = {field = value}`: a field the operation names as a form-data parameter becomes that
-- keyword (unless given as one); every other field is a form part of its own.
local function data_fields(name, op, data, kw, form)
  local taken = {}
  for _, p in ipairs(op.params) do
    if p["in"] == "formData" and p.type ~= "file" and kw[p.name] == nil and data[p.name] ~= nil then
      kw[p.name], taken[p.name] = data[p.name], true
    end
  end
  for _, k in ipairs(util.sorted_keys(data, function(a, b) return tostring(a) < tostring(b) end)) do
    if type(k) ~= "string" then fail(name, "data", "table of form fields expected") end
    check.check_part_text(name, "data", k, "field name")
    if not taken[k] then
      local v = data[k]
      local values = type(v) == "table" and check.as_list(name, "data." .. k, v, { type = "array", items = "any" })
        or { v }
      for _, x in ipairs(values) do
        form[#form + 1] = { name = k, value = check.wire_text(name, "data." .. k, x, { type = "any" }) }
      end
    end
  end
end

local function checked_headers(name, headers)
  if type(headers) ~= "table" then fail(name, "headers", "table expected, got " .. type(headers)) end
  local out = {}
  for k, v in pairs(headers) do
    if type(k) ~= "string" or k:find("[^%w%-_]") then fail(name, "headers",
        "header names of letters, digits and '-' expected") end
    out[k] = check.wire_text(name, "headers." .. k, v, { type = "any" })
  end
  return out
end

--- The Uber forms of a call as the service classes' keywords plus what the builder adds as it is.
-- @treturn table keywords (the call's own table when it has no Uber form)
-- @treturn table|nil extra for the call layer: `form`, `files`, `headers`, `content_type`
function M.keywords(op, args, name)
  if type(args) ~= "table" or ((args.data == nil or type(args.data) == "string") and args.files == nil
      and args.headers == nil and args.content_type == nil) then
    return args, nil -- nothing but service keywords (Uber's `data = "bytes"` is one: file bytes)
  end
  local kw, extra = util.copy(args), { form = {} }
  kw.data, kw.files, kw.headers, kw.content_type = nil, nil, nil, nil
  if type(args.data) == "table" then
    data_fields(name, op, args.data, kw, extra.form)
  elseif args.data ~= nil and type(args.data) ~= "string" then
    fail(name, "data", "table of form fields (or file bytes) expected, got " .. type(args.data))
  else
    kw.data = args.data
  end
  if args.files ~= nil then
    for _, part in ipairs(file_parts(name, op, args.files)) do extra.form[#extra.form + 1] = part end
    extra.files = true
  end
  if args.headers ~= nil then extra.headers = checked_headers(name, args.headers) end
  local content_type = args.content_type
  if content_type ~= nil then
    if type(content_type) ~= "string" then fail(name, "content_type", "string expected, got " .. type(content_type)) end
    check.check_text(name, "content_type", content_type)
    extra.content_type = content_type
  end
  return kw, extra
end

local override_methods = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true, HEAD = true }

--- A synthetic operation for `override = "METHOD,/route"` (the Uber class's, and a service object's override()).
function M.override_op(spec, action)
  if type(spec) ~= "string" then
    fail("command", "override", "\"METHOD,/route\" string expected, got " .. type(spec))
  end
  local method, route = spec:match("^%s*(%a+)%s*,%s*(%S+)%s*$")
  if not method or not override_methods[method:upper()] then
    fail("command", "override",
        "\"METHOD,/route\" with METHOD one of GET, POST, PUT, PATCH, DELETE, HEAD expected, got " .. check.shown(spec))
  end
  -- the query belongs in `parameters`: a '?' here would be refused by the C core after a token request
  if route:sub(1, 1) ~= "/" or route:find("[%c%s#?]") then
    fail("command", "override",
        "route starting with '/' and free of spaces, control characters, '?' and '#' expected, got " .. check.shown(route))
  end
  return { id = action or "override", method = method:upper(), route = route, params = {}, synthetic = true }
end

return M
