-- Test helper: the request the swagger calls for, for any operation of falcon.endpoints, and the calls that
-- exercise it in both styles (spec/wire_spec.lua). Written from the swagger's rules, not from the builder:
-- query arrays by their collectionFormat, path parameters filled and percent-encoded (RFC 3986), header
-- parameters as headers, the body's media type from `consumes` (JSON, multipart, or bytes), and no
-- Content-Type or Content-Length without a body; plus the values FalconPy supplies (`supplied`).
--   rules.operations()                -> { {op =, class =, method =}... } every operation a service class has
--   rules.values(op, "all"|"required") -> { [param] = value } (the body under the key "body")
--   rules.service_args(op, values, file_path) / rules.uber_args(values) -> keyword tables
--   rules.expect(op, values, file_path) -> the request; rules.check(expected, recorded) -> { problems }
local cjson = require "cjson"
local endpoints = require "falcon.endpoints"

local M = {}

M.TOKEN = "wire-recorder-token" -- what spec/helpers/wire_recorder.c hands out
M.FILE_BYTES = "file\0bytes\r\n--not-a-boundary\r\n\255 end"
local all_bytes = {}
for i = 0, 255 do all_bytes[#all_bytes + 1] = string.char(i) end
M.BINARY_BYTES = table.concat(all_bytes)
M.FILE_NAME = "upload.txt"

--- The media type a body of bytes has for the operation: the first of its `consumes` that is not JSON or a
--- form (falcon.endpoints reads the data so; spec/wire_spec.lua pins the swagger's answers for the operations
--- that take bytes).
M.bytes_type = endpoints.bytes_type

local function body_param(op)
  for _, p in ipairs(op.params) do if p["in"] == "body" then return p end end
  return nil
end

---------------------------------------------------------------------------------------------
-- Values
---------------------------------------------------------------------------------------------

local function bounded_text(p, text)
  if p.enum then return p.enum[1] end
  if p.maxLength and #text > p.maxLength then text = ("a"):rep(p.maxLength) end
  if p.minLength and #text < p.minLength then text = text .. ("a"):rep(p.minLength - #text) end
  return text
end

local function bounded_number(p, n)
  if p.min and n < p.min then n = p.min end
  if p.max and n > p.max then n = p.max end
  return n
end

-- A value of the parameter's type that its checks accept and that percent-encoding must handle.
local function value_of(p)
  local t = p.type
  if t == "array" then
    local items = ({ integer = { 3, 4 }, number = { 1.5, 2.5 }, boolean = { true, false } })[p.items]
      or { "i1 x", "i2/\195\169" }
    if p.maxItems and p.maxItems < 2 then items = { items[1] } end
    return items
  end
  if t == "integer" then return bounded_number(p, 7) end
  if t == "number" then return bounded_number(p, 2.5) end
  if t == "boolean" then return true end
  if t == "file" then return M.FILE_BYTES end
  if p.name == "file_name" then return M.FILE_NAME end
  if p["in"] == "header" then return bounded_text(p, "h v;1") end
  if p["in"] == "path" then return bounded_text(p, "p q/\195\169") end
  return bounded_text(p, "x y&z=/\195\169+")
end

local function json_body(op)
  if op.body_shape == "list" then return { { field = "wire.field", type = "terms", size = 2 } } end
  return { wire = "body \195\169", count = 2, flag = true, list = { "a", "b" }, nested = { key = "v" } }
end

--- A value for each parameter the call gives: every one ("all"), or the required ones the API needs from the
--- caller ("required": a parameter FalconPy supplies is left to it). The body is under "body".
function M.values(op, which)
  local values = {}
  for _, p in ipairs(op.params) do
    local wanted = which == "all" or (p.required and p.supplied == nil)
    if p.engine then
      wanted = false
    elseif p["in"] == "body" then
      if wanted then values.body = M.bytes_type(op) and M.BINARY_BYTES or json_body(op) end
      wanted = false
    end
    if wanted then values[p] = value_of(p) end
  end
  -- The seed's GraphQL operation has no body parameter in the spec, yet its body is JSON (body_keywords).
  if op.body_keywords and values.body == nil then values.body = json_body(op) end
  return values
end

---------------------------------------------------------------------------------------------
-- The calls
---------------------------------------------------------------------------------------------

--- Service style: every parameter as a keyword, in FalconPy's spelling where it has one; files as
--- file_data (or file_path, streamed), a body of bytes as `body` (or file_path).
function M.service_args(op, values, file_path)
  local args = {}
  for p, v in pairs(values) do
    if p == "body" then
      if type(v) == "table" or not file_path then args.body = v end
    elseif p.type == "file" then
      if file_path then args.file_path = file_path else args.file_data = v end
    else
      args[p.alias or p.name] = v
    end
  end
  if file_path and type(values.body) == "string" then args.file_path = file_path end
  local named = false -- bytes need a file name: the file_name parameter's value, else the keyword
  for _, p in ipairs(op.params) do named = named or p.name == "file_name" end
  if args.file_data and not named then args.file_name = M.FILE_NAME end
  return args
end

--- Uber style, as FalconPy's command() takes it: query in `parameters`, form fields in `data`, files in
--- `files`, a body as `body` (bytes as `data`), path and header parameters as keywords under their names.
function M.uber_args(values)
  local args, parameters, data = {}, {}, {}
  for p, v in pairs(values) do
    if p == "body" then
      if type(v) == "string" then args.data = v else args.body = v end
    elseif p["in"] == "query" then
      parameters[p.name] = v
    elseif p.type == "file" then
      args.files = { { p.name, { M.FILE_NAME, v, "text/plain" } } }
    elseif p["in"] == "formData" then
      data[p.name] = v
    else
      args[p.name] = v
    end
  end
  if next(parameters) then args.parameters = parameters end
  if next(data) then args.data = data end
  return args
end

---------------------------------------------------------------------------------------------
-- The request the swagger calls for
---------------------------------------------------------------------------------------------

local function wire_text(v)
  if type(v) == "number" then
    if v == math.floor(v) then return string.format("%d", v) end
    return string.format("%.17g", v)
  end
  return tostring(v)
end

local function percent_encoded(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- A list value as the swagger sends it: one pair per item (multi), or the items joined by commas (csv,
-- the default).
local function texts_of(p, v)
  if type(v) ~= "table" then return { wire_text(v) } end
  local texts = {}
  for i, x in ipairs(v) do texts[i] = wire_text(x) end
  if p.collectionFormat == "multi" then return texts end
  return { table.concat(texts, ",") }
end

local function expect_form(e, op, values, file_path)
  local parts = {}
  for _, p in ipairs(op.params) do
    local v = values[p]
    if p["in"] == "formData" and v ~= nil then
      if p.type == "file" then
        parts[#parts + 1] = { name = p.name, filename = M.FILE_NAME, content_type = "text/plain",
                              data = file_path and M.FILE_BYTES or v }
      else
        for _, text in ipairs(texts_of(p, v)) do parts[#parts + 1] = { name = p.name, data = text } end
      end
    end
  end
  if #parts > 0 then e.body = { kind = "multipart", parts = parts } end
end

--- The request for `values` (what the calls give), with the values FalconPy supplies for what they leave out.
function M.expect(op, values, file_path)
  if op.refused then return { refused = true } end
  local e = { method = op.method, path = op.route, query = {}, headers = {} }
  for _, p in ipairs(op.params) do
    local v = values[p]
    if v == nil then v = p.supplied end
    if v ~= nil and p["in"] == "query" then
      for _, text in ipairs(texts_of(p, v)) do e.query[#e.query + 1] = { p.name, text } end
    elseif v ~= nil and p["in"] == "path" then
      e.path = e.path:gsub("{" .. p.name:gsub("%p", "%%%0") .. "}", (percent_encoded(wire_text(v)):gsub("%%", "%%%%")))
    elseif v ~= nil and p["in"] == "header" then
      e.headers[p.name] = wire_text(v)
    end
  end
  local body = values.body
  if type(body) == "string" then
    e.body = { kind = "bytes", data = file_path and M.FILE_BYTES or body, content_type = M.bytes_type(op) }
  elseif body ~= nil then
    e.body = { kind = "json", value = body }
  else
    expect_form(e, op, values, file_path)
  end
  return e
end

---------------------------------------------------------------------------------------------
-- Checking a recorded request
---------------------------------------------------------------------------------------------

local function decoded(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function query_pairs(raw)
  local list = {}
  for pair in (raw or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    list[#list + 1] = { decoded(k), decoded(v) }
  end
  return list
end

-- Pairs grouped by name, values in order: what a server reads (the order of names carries nothing).
local function grouped(list)
  local by, names = {}, {}
  for _, kv in ipairs(list) do
    if not by[kv[1]] then by[kv[1]] = {}; names[#names + 1] = kv[1] end
    table.insert(by[kv[1]], kv[2])
  end
  table.sort(names)
  local out = {}
  for _, n in ipairs(names) do out[#out + 1] = n .. "=" .. table.concat(by[n], "|") end
  return table.concat(out, " & ")
end

local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function multipart_parts(body, boundary)
  local delim = "--" .. boundary
  if body:sub(1, #delim) ~= delim then return nil end
  local parts, pos = {}, #delim + 1
  while body:sub(pos, pos + 1) == "\r\n" do
    local head_end = body:find("\r\n\r\n", pos + 2, true)
    local next_delim = head_end and body:find("\r\n" .. delim, head_end + 4, true)
    if not next_delim then return nil end
    local head = body:sub(pos + 2, head_end + 1)
    parts[#parts + 1] = { name = head:match('name="([^"]*)"'), filename = head:match('filename="([^"]*)"'),
                          content_type = head:match("Content%-Type: ([^\r\n]+)"),
                          data = body:sub(head_end + 4, next_delim - 1) }
    pos = next_delim + 2 + #delim
  end
  if body:sub(pos) ~= "--\r\n" then return nil end
  return parts
end

local function part_key(part)
  return table.concat({ part.name or "", part.filename or "", part.content_type or "", part.data }, "\0")
end

local function check_body(e, got, bad)
  local types = got:header("Content-Type")
  local lengths = got:header("Content-Length")
  if #lengths ~= 1 or tonumber(lengths[1]) ~= #got.body then bad("Content-Length %s for %d bytes", lengths[1], #got.body) end
  if e.kind == "json" then
    if types[1] ~= "application/json" or #types ~= 1 then bad("Content-Type %s, expected application/json", types[1]) end
    local ok, value = pcall(cjson.decode, got.body)
    if not ok or not same(value, e.value) then bad("JSON body %q differs", got.body:sub(1, 80)) end
  elseif e.kind == "bytes" then
    if types[1] ~= e.content_type or #types ~= 1 then bad("Content-Type %s, expected %s", types[1], e.content_type) end
    if got.body ~= e.data then bad("body of %d bytes differs from the %d given", #got.body, #e.data) end
  else
    local boundary = #types == 1 and types[1]:match("^multipart/form%-data; boundary=(%S+)$")
    local parts = boundary and multipart_parts(got.body, boundary)
    if not parts then return bad("not a multipart/form-data body (Content-Type %s)", types[1]) end
    local want, have = {}, {}
    for i, part in ipairs(e.parts) do want[i] = part_key(part) end
    for i, part in ipairs(parts) do have[i] = part_key(part) end
    table.sort(want)
    table.sort(have)
    if not same(want, have) then bad("form parts %q, expected %q", table.concat(have, "|"), table.concat(want, "|")) end
  end
end

--- What is wrong with a recorded request (`got`, from spec/helpers/wire.lua), or an empty list.
function M.check(e, got)
  local problems = {}
  local function bad(fmt, ...) problems[#problems + 1] = string.format(fmt, ...) end
  if got.method ~= e.method then bad("method %s, expected %s", got.method, e.method) end
  if got.path ~= e.path then bad("path %s, expected %s", got.path, e.path) end
  local want, have = grouped(e.query), grouped(query_pairs(got.query))
  if want ~= have then bad("query {%s}, expected {%s}", have, want) end
  local auth = got:header("Authorization")
  if #auth ~= 1 or auth[1] ~= "Bearer " .. M.TOKEN then bad("Authorization %s", tostring(auth[1])) end
  for name, value in pairs(e.headers) do
    local values = got:header(name)
    if #values ~= 1 or values[1] ~= value then bad("header %s: %s, expected %s", name, tostring(values[1]), value) end
  end
  if #got:header("Transfer-Encoding") > 0 then bad("Transfer-Encoding sent") end
  if e.body then
    check_body(e.body, got, bad)
  else
    if #got:header("Content-Type") > 0 then bad("Content-Type %s without a body", got:header("Content-Type")[1]) end
    if #got:header("Content-Length") > 0 then bad("Content-Length %s without a body", got:header("Content-Length")[1]) end
    if got.body ~= "" then bad("%d body bytes, expected none", #got.body) end
  end
  return problems
end

---------------------------------------------------------------------------------------------
-- Every operation
---------------------------------------------------------------------------------------------

-- The name a class calls an operation by: FalconPy's, else the snake_case of its ID, else the ID.
local function method_name(view, rec)
  for _, name in ipairs { rec.pep8 or false, endpoints.snake(rec.id) } do
    if name and view.by_name[name] == rec and not view.by_id[name] then return name end
  end
  return rec.id
end

--- Every operation a service class answers to, once (the class that holds its collection), sorted.
function M.operations()
  local list, seen = {}, {}
  local classes = {}
  for class in pairs(endpoints.classes) do classes[#classes + 1] = class end
  table.sort(classes)
  for _, class in ipairs(classes) do
    local view = endpoints.class_view(class)
    for _, rec in ipairs(view.list) do
      if view.by_id[rec.id] == rec and not seen[rec] then
        seen[rec] = true
        list[#list + 1] = { op = rec, class = class, method = method_name(view, rec) }
      end
    end
  end
  return list
end

--- Every Operation ID the Uber class takes, with the record it reaches, sorted.
function M.uber_operations()
  local ids = {}
  for id in pairs(endpoints.operations) do ids[#ids + 1] = id end
  table.sort(ids)
  local list = {}
  for i, id in ipairs(ids) do list[i] = { op = endpoints.get(id), id = id } end
  return list
end

-- One request of each shape, one after another on one connection, so that whatever one request sets on the
-- reused handle (a form's reader, a body, a method) would show in the next: Operation ID, values, streamed.
local SEQUENCE = {
  { "CaseAddAttachment", "all" }, { "RegenerateAPIKey", "all" }, { "PutObject", "all" },
  { "admission_control_delete_policies", "all" }, { "GetCaseEntitiesByIDs", "all" },
  { "updatePolicyPrecedence", "all" }, { "HeadImageScanInventory", "all" }, { "ArchiveUploadV1", "required", true },
  { "DescribeCollections", "all" }, { "UploadFileQuickScanPro", "all" }, { "refreshActiveStreamSession", "required" },
  { "cloud_registration_aws_trigger_health_check", "all" }, { "ImageMatchesPolicy", "required" },
  { "GetLatestIntelRuleFile", "all" }, { "UploadSampleV3", "required", true }, { "QueryCasesIdsByFilter", "all" },
}

--- That sequence: { {op, class, method, values, file_path} ... } (file_path for the streamed ones).
function M.sequence(file_path)
  local where = {}
  for _, item in ipairs(M.operations()) do where[item.op.id] = where[item.op.id] or item end
  local list = {}
  for i, s in ipairs(SEQUENCE) do
    local item = assert(where[s[1]], s[1])
    list[i] = { op = item.op, class = item.class, method = item.method, values = M.values(item.op, s[2]),
                file_path = s[3] and file_path or nil }
  end
  return list
end

--- Makes the sequence's calls through `falcon` service objects sharing `client`; returns what each raised
--- (false when it did not) and the name of the driver that ran them.
function M.run_sequence(falcon, client, file_path)
  local raised, objects = {}, {}
  for i, item in ipairs(M.sequence(file_path)) do
    local obj = objects[item.class] or falcon[item.class] { auth_object = client }
    objects[item.class] = obj
    -- falcon.base.compat's pcall: under falcon.parallel a call yields, which Lua 5.1's own pcall cannot carry
    local ok, err = require("falcon.base.compat").pcall(obj[item.method], obj,
      M.service_args(item.op, item.values, item.file_path))
    raised[i] = not ok and tostring(err) or false
  end
  return raised, require("falcon.drivers").current().name
end

--- What is wrong with the requests a run of the sequence made (`got`, in order), given what it raised.
function M.check_sequence(file_path, raised, got)
  local problems = {}
  local list = M.sequence(file_path)
  if #got ~= #list then problems[1] = #got .. " requests for " .. #list .. " calls" end
  for i, item in ipairs(list) do
    if raised[i] then problems[#problems + 1] = item.op.id .. " raised " .. raised[i] end
    for _, problem in ipairs(got[i] and M.check(M.expect(item.op, item.values, item.file_path), got[i]) or {}) do
      problems[#problems + 1] = item.op.id .. ": " .. problem
    end
  end
  return problems
end

M.body_param = body_param

return M
