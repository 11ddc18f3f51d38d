--- The Uber class: every operation through one `command` method.
--
--     local uber = falcon.APIHarnessV2{ client_id = id, client_secret = secret }
--     uber:command("QueryCasesIdsByFilter", { limit = 10 })
--     uber:command{ action = "GetCaseEntitiesByIDs", body = { ids = { "a", "b" } } }
--     uber:command{ override = "GET,/message-center/queries/cases/v1", parameters = { limit = 1 } }
--
-- The Uber forms (`data = {field = value}`, `files = {...}`, `headers = {...}`, `content_type`) are
-- turned here into the keywords the service classes take plus ready multipart parts and headers
-- (`M.keywords`, which the builder calls when its quick path declines a call); from there the same
-- tables and the same builder (falcon.payload) serve both.
local endpoints = require "falcon.endpoints"
local errors = require "falcon.errors"
local payload = require "falcon.payload"
local check = require "falcon.payload_check"
local upload = require "falcon.payload_upload"
local service = require "falcon.service"
local suggest = require "falcon.suggest"
local util = require "falcon.util"

local fail = check.fail

local M = {}

local methods = util.copy(service.common)

local Uber = { __name = "falcon.APIHarnessV2" }
Uber.__index, Uber.__newindex = service.accessors(methods)
Uber.__close = service.close_object
Uber.__tostring = function(self)
  return "falcon.APIHarnessV2(" .. tostring(self._client:base_url()) .. ")"
end

--- The nearest Operation IDs to a misspelt action (at most `n`).
function M.suggest(action, n)
  n = n or 3
  local squashed = action:lower():gsub("[_%-%s]", "")
  local scored = {}
  -- snake_case or differently cased spellings of an Operation ID come first
  for id in pairs(endpoints.operations) do
    if id:lower():gsub("[_%-%s]", "") == squashed then scored[#scored + 1] = { id, 0 } end
  end
  for i, id in ipairs(suggest.nearest(action, endpoints.operations, n)) do
    scored[#scored + 1] = { id, i }
  end
  -- PEP8 names of Message Center and the seed aliases point at their Operation IDs.
  local mc = endpoints.collection("message_center")
  for alias, rec in pairs(mc.by_name) do
    if rec.pep8 == alias and alias == action:lower() then scored[#scored + 1] = { rec.id, 0 } end
  end
  for _, list in pairs(endpoints.aliases) do
    for alias, id in pairs(list) do
      if alias == action:lower() then scored[#scored + 1] = { id, 0 } end
    end
  end
  table.sort(scored, function(x, y)
    if x[2] ~= y[2] then return x[2] < y[2] end
    return x[1] < y[1]
  end)
  local out, seen = {}, {}
  for _, s in ipairs(scored) do
    if #out >= n then break end
    if not seen[s[1]] then out[#out + 1] = s[1]; seen[s[1]] = true end
  end
  return out
end

local override_methods = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true, HEAD = true }

--- A synthetic operation for `override = "METHOD,/route"` (also behind service classes' override()).
local function override_op(spec, action)
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

M.override_op = override_op

--- Resolves an action name to its operation record; raises with suggestions when unknown.
function M.resolve(action)
  if type(action) ~= "string" then
    fail("command", "action", "Operation ID string expected, got " .. type(action))
  end
  local op = endpoints.get(action)
  if op then return op end
  local near = M.suggest(action)
  local hint = #near > 0 and ("; did you mean " .. table.concat(near, ", ") .. "?") or ""
  errors.raise("command", "unknown operation '%s'%s", action, hint)
end

---------------------------------------------------------------------------------------------
-- The Uber forms as service keywords
---------------------------------------------------------------------------------------------

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
-- @treturn table|nil extra for payload.build: `form`, `files`, `headers`, `content_type`
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

local function split_call(action, a1, a2)
  -- command{ action = "...", ... } or command("Op", {...}) or command("Op", "ID")
  local args
  if type(action) == "table" and a1 == nil then
    args = util.copy(action)
    action = args.action
    args.action = nil
    return action, args, nil
  end
  return action, a1, a2
end

--- Calls any operation by Operation ID.
-- @tparam string|table action Operation ID, or a table with `action` (or `override`) and keywords
-- @tparam[opt] table|string args keywords (or positional ids)
-- @return the response table (default), a Result (pythonic), bytes (downloads), or
--   status_code, headers, content with `expand_result = true`
function methods.command(self, action, a1, a2)
  if type(self) ~= "table" or rawget(self, "_client") == nil then
    errors.raise("command", "call it as a method, with a colon: uber:command(...)")
  end
  local act, x1, x2 = split_call(action, a1, a2)
  local override = type(x1) == "table" and x1.override or nil
  local op
  if override ~= nil then
    op = override_op(override, act)
  else
    if act == nil then fail("command", "action", "Operation ID string expected, got nil") end
    op = M.resolve(act)
  end
  local args = op.synthetic and (x1 or {}) or payload.merge_positional(op, op.id, x1, x2)
  return service.call(self, op, op.id, args, M.keywords)
end

local function resolve_pages(action)
  return M.resolve(action)
end

--- Paged iteration over any operation: for page in uber:pages("QueryDevicesByFilter", {...}) do
function methods.pages(self, action, args, opts)
  return require("falcon.paginate").pages(self, resolve_pages(action), action, args, opts, M.keywords)
end

--- Item iteration across pages: for id in uber:each("QueryCasesIdsByFilter", {...}) do
function methods.each(self, action, args, opts)
  return require("falcon.paginate").each(self, resolve_pages(action), action, args, opts, M.keywords)
end

--- A watch on Message Center cases (falcon.CaseWatch), as MessageCenter's watch: uber:watch_cases { ... }
function methods.watch_cases(self, opts)
  return require("falcon.case_watch").with_client(self, opts, "watch_cases")
end

--- Creates an Uber object.
-- @tparam table opts engine options plus `pythonic`, `auth_object`
function M.new(opts)
  local obj = service.init_object(opts, "APIHarnessV2")
  return setmetatable(obj, Uber)
end

--- The callable class table (falcon.APIHarnessV2 / falcon.APIHarness).
M.APIHarnessV2 = setmetatable({ new = M.new, name = "APIHarnessV2" }, {
  __call = function(_, opts) return M.new(opts) end,
  __tostring = function() return "falcon.APIHarnessV2" end,
})
--- FalconPy's older Uber class name; the same class here (one engine serves both).
M.APIHarness = M.APIHarnessV2

return M
