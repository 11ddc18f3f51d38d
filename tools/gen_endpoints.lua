#!/usr/bin/env lua5.4
--- Generates lua/falcon/endpoints/*.lua from the shared API spec.
--
-- Usage: lua5.4 tools/gen_endpoints.lua [SPEC_DIR [OUT_DIR]]
--   SPEC_DIR defaults to ../shared/spec (relative to the repository root),
--   OUT_DIR to lua/falcon/endpoints.
-- lua5.4 tools/gen_endpoints.lua --index OUT_DIR [TABLES_DIR]
--   writes only OUT_DIR/INDEX.md from the committed tables (TABLES_DIR, default lua/falcon/endpoints):
--   how spec/endpoints_index_spec.lua checks the index is current without ../shared.
--
-- Inputs: falcon-operations.json (every operation, parameters, service classes) and
-- message-center.json (PEP8 names, produces, and the decommissioned CreateCase/UpdateCase); FalconPy's
-- facts: tools/endpoints_falconpy.lua (keyword spellings, supplied values, media types, refusals) and
-- tools/falconpy_names.lua (its classes and method names, written by tools/gen_falconpy_names.lua).
-- Output: one data file per collection, index.lua (read by the hand-written loader init.lua) and
-- INDEX.md (tools/endpoints_index.lua). The output is deterministic (sorted keys) so that
-- regenerating produces no diff; what FalconPy's layer leaves out is printed on stderr.
local cjson = require "cjson"

local script_dir = (arg and arg[0] or ""):match("^(.*)/tools/[^/]*$") or "."
package.path = script_dir .. "/lua/?.lua;" .. script_dir .. "/lua/?/init.lua;" .. package.path

--- INDEX.md (tools/endpoints_index.lua): every operation, its names, keywords, classes and route.
local function write_index(tables_dir, out_path)
  dofile(script_dir .. "/tools/endpoints_index.lua")(tables_dir, out_path, script_dir)
end

if arg and arg[1] == "--index" then
  local out = assert(arg[2], "usage: lua5.4 tools/gen_endpoints.lua --index OUT_DIR [TABLES_DIR]")
  os.execute("mkdir -p '" .. out .. "'")
  write_index(arg[3] or (script_dir .. "/lua/falcon/endpoints"), out .. "/INDEX.md")
  return
end
local spec_dir = arg[1] or (script_dir .. "/../shared/spec")
local out_dir = arg[2] or (script_dir .. "/lua/falcon/endpoints")

local function read_json(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return cjson.decode(text)
end

local ops_spec = read_json(spec_dir .. "/falcon-operations.json")
local mc_spec = read_json(spec_dir .. "/message-center.json")
local falconpy = dofile(script_dir .. "/tools/endpoints_falconpy.lua")
local notes = { aliases = {}, shadowed = {}, other = {} } -- what the FalconPy layer left out, for the summary

---------------------------------------------------------------------------------------------
-- Hand-maintained overlays. Every fact here comes from ../shared/spec/API.md, models.json or
-- the seed documents (../shared/seeds); the operation tables themselves carry only `body`.
---------------------------------------------------------------------------------------------

-- Body keyword maps: keyword -> { key = body key, type = json type, items = item type }.
-- `shape = "list"` means the keywords build a one-element list (aggregate requests).
-- The API answers lookups of up to 500 ids; longer lists are split by falcon.call.batch (max_items).
local ids_body = { ids = { key = "ids", type = "array", items = "string", split = true, max_items = 500 } }

-- MsaAggregateQueryRequest (models.json); `sub_aggregates` nests the same model.
local aggregate_body = {
  date_ranges = { type = "array", items = "object" }, exclude = { type = "string" },
  extended_bounds = { type = "object" }, field = { type = "string" },
  filter = { type = "string" }, filters_spec = { type = "object" },
  from = { type = "integer" }, include = { type = "string" },
  interval = { type = "string" }, max_doc_count = { type = "integer" },
  min_doc_count = { type = "integer" }, missing = { type = "string" },
  name = { type = "string" }, percents = { type = "array", items = "number" },
  q = { type = "string" }, ranges = { type = "array", items = "object" },
  size = { type = "integer" }, sort = { type = "string" },
  sub_aggregates = { type = "array", items = "object" }, time_zone = { type = "string" },
  type = { type = "string" },
}

local case_v1_body = {
  content = { key = "body", type = "string" }, detections = { type = "array", items = "object" },
  incidents = { type = "array", items = "object" }, title = { type = "string" },
  type = { type = "string" }, user_uuid = { type = "string" },
}
-- MessagecenterCaseCreationRequestV2 adds two fields to the v1 payload.
local case_v2_body = {}
for k, v in pairs(case_v1_body) do case_v2_body[k] = v end
case_v2_body.malware_submission_id = { type = "string" }
case_v2_body.recon_rule_type = { type = "string" }

local overlays = {
  message_center = {
    AggregateCases = { body_shape = "list", body_keywords = aggregate_body },
    GetCaseActivityByIds = { body_keywords = ids_body, positional = "ids" },
    GetCaseEntitiesByIDs = { body_keywords = ids_body, positional = "ids" },
    CaseAddActivity = { body_keywords = {
      case_id = { type = "string" }, content = { key = "body", type = "string" },
      type = { type = "string" }, user_uuid = { type = "string" } } },
    CreateCase = { body_keywords = case_v1_body },
    CreateCaseV2 = { body_keywords = case_v2_body },
    UpdateCase = { body_keywords = {
      id = { type = "string" }, content = { key = "body", type = "string" },
      detections = { type = "array", items = "object" },
      incidents = { type = "array", items = "object" } } },
    -- API.md: download takes query `id`, also when given positionally.
    CaseDownloadAttachment = { positional = "id" },
    -- API.md: limit 1..500 for the query operations.
    QueryCasesIdsByFilter = { param_bounds = { limit = { 1, 500 } } },
    QueryActivityByCaseID = { param_bounds = { limit = { 1, 500 } } },
    -- API.md attachment limits.
    CaseAddAttachment = { upload = {
      max_bytes = 15 * 1024 * 1024,
      extensions = { "bmp", "jpg", "jpeg", "gif", "png", "pdf", "doc", "docx", "ppt", "pptx",
                     "xls", "xlsx", "csv", "txt" },
      name_max = 255 } },
  },
  identity_protection = {
    -- The seed's idp.graphql(query=..., variables=...) builds the JSON body {query, variables}.
    api_preempt_proxy_post_graphql = { body_keywords = {
      query = { type = "string" }, variables = { type = "object" } }, graphql = true },
  },
}

-- PEP8 names used by the seed documents that a mechanical snake_case of the Operation ID
-- does not produce (API.md names the operations behind them).
local seed_aliases = {
  intel = { query_indicator_entities = "QueryIntelIndicatorEntities" },
  identity_protection = { graphql = "api_preempt_proxy_post_graphql" },
  sample_uploads = { get_sample = "GetSampleV3" },
}

---------------------------------------------------------------------------------------------
-- Building the records
---------------------------------------------------------------------------------------------

local function int_or_num(x)
  if type(x) == "number" and x == math.floor(x) then return math.tointeger(x) or x end
  return x
end

local function build_param(p)
  local r = { name = p.name, ["in"] = p["in"] }
  r.type = p.type
  if p.required then r.required = true end
  if p.collectionFormat then r.collectionFormat = p.collectionFormat end
  if p.items and p.items.type then r.items = p.items.type end
  if p.maxItems then r.maxItems = int_or_num(p.maxItems) end
  if p.minItems then r.minItems = int_or_num(p.minItems) end
  if p.enum then
    r.enum = {}
    for i, v in ipairs(p.enum) do r.enum[i] = v end
  end
  if p.minimum then r.min = int_or_num(p.minimum) end
  if p.maximum then r.max = int_or_num(p.maximum) end
  if p.maxLength then r.maxLength = int_or_num(p.maxLength) end
  if p.minLength then r.minLength = int_or_num(p.minLength) end
  -- The engine owns Authorization: a user never passes it.
  if r["in"] == "header" and r.name:lower() == "authorization" then r.required = nil; r.engine = true end
  return r
end

--- FalconPy routes mark path slots either `{}` (in parameter order) or `{name}`; we emit `{name}`.
local function normalise_route(route, params)
  local path_names = {}
  for _, p in ipairs(params) do
    if p["in"] == "path" then path_names[#path_names + 1] = p.name end
  end
  local k = 0
  return (route:gsub("{([^}]*)}", function(inner)
    k = k + 1
    if inner == "" then return "{" .. assert(path_names[k], "path slot without parameter in " .. route) .. "}" end
    return "{" .. inner .. "}"
  end))
end

local collections = {}      -- name -> ordered list of records
local first_collection = {} -- op id -> collection of its first occurrence
local op_count = 0

local function add(record)
  local list = collections[record.collection]
  if not list then list = {}; collections[record.collection] = list end
  list[#list + 1] = record
  if not first_collection[record.id] then first_collection[record.id] = record.collection end
  op_count = op_count + 1
end

local mc_by_id = {}
for _, op in ipairs(mc_spec.operations) do mc_by_id[op.operation] = op end

for _, op in ipairs(ops_spec.operations) do
  local params = {}
  for i, p in ipairs(op.parameters) do params[i] = build_param(p) end
  falconpy.keyword_aliases(op.operation, params, notes.aliases)
  local rec = {
    id = op.operation, collection = op.collection, method = op.method,
    route = normalise_route(op.route, op.parameters), params = params,
  }
  local mc = op.collection == "message_center" and mc_by_id[op.operation]
  if mc then
    rec.pep8 = mc.pep8
    if mc.produces and mc.produces ~= "application/json" then rec.produces = mc.produces end
  end
  add(rec)
end

-- CreateCase / UpdateCase: decommissioned upstream, present only in message-center.json.
local mc_added = 0
for _, op in ipairs(mc_spec.operations) do
  if not first_collection[op.operation] then
    local params = {}
    for i, p in ipairs(op.parameters) do params[i] = build_param(p) end
    add({ id = op.operation, collection = "message_center", method = op.method,
          route = op.route, params = params, pep8 = op.pep8,
          decommissioned = op.decommissioned or nil })
    mc_added = mc_added + 1
  end
end

-- Apply overlays and bounds.
for cname, by_op in pairs(overlays) do
  for _, rec in ipairs(collections[cname]) do
    local o = by_op[rec.id]
    if o then
      for k, v in pairs(o) do
        if k == "param_bounds" then
          for _, p in ipairs(rec.params) do
            local b = v[p.name]
            if b then p.min, p.max = b[1], b[2] end
          end
        else
          rec[k] = v
        end
      end
    end
  end
end

-- FalconPy's layer: supplied values, media types, refusals; its service classes and method names (the
-- spec names a class's collection where it knows the class; one class names a collection the operations
-- spell differently, SensorUpdatePolicy: sensor_update_policies vs sensor_update_policy, and its module
-- name matches then).
falconpy.apply(collections)
local class_info = falconpy.classes(collections, ops_spec.service_classes,
  dofile(script_dir .. "/tools/falconpy_names.lua"), first_collection, notes)
local classes = class_info.classes

---------------------------------------------------------------------------------------------
-- Serialisation
---------------------------------------------------------------------------------------------

local lua_keywords = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do lua_keywords[w] = true end

local function key_repr(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") and not lua_keywords[k] then return k end
  return "[" .. string.format("%q", k) .. "]"
end

-- Field order inside a record, for readable diffs.
local order = { id = 1, method = 2, route = 3, name = 4, ["in"] = 5, type = 6, items = 7,
  required = 8, collectionFormat = 9, maxItems = 10, minItems = 11, min = 12, max = 13,
  minLength = 14, maxLength = 15, enum = 16, key = 17, split = 18 }

local function is_list(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

local function repr(v)
  local tv = type(v)
  if tv == "string" then return string.format("%q", v) end
  if tv == "number" then
    if v == math.floor(v) then return string.format("%d", v) end
    return string.format("%.17g", v)
  end
  if tv == "boolean" then return tostring(v) end
  assert(tv == "table", "cannot serialise " .. tv)
  local parts = {}
  if is_list(v) then
    for i = 1, #v do parts[i] = repr(v[i]) end
  else
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      local oa, ob = order[a] or 100, order[b] or 100
      if oa ~= ob then return oa < ob end
      return tostring(a) < tostring(b)
    end)
    for i, k in ipairs(keys) do parts[i] = key_repr(k) .. "=" .. repr(v[k]) end
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local header = "-- Generated by tools/gen_endpoints.lua from ../shared/spec; do not edit.\n"

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

os.execute("mkdir -p '" .. out_dir .. "'")

local names = {}
for cname in pairs(collections) do names[#names + 1] = cname end
table.sort(names)

for _, cname in ipairs(names) do
  local lines = { header, "-- Collection ", cname, ": ", tostring(#collections[cname]),
    " operations (duplicated Operation IDs keep FalconPy's order; the first one wins).\n",
    "return {\n" }
  for _, rec in ipairs(collections[cname]) do
    rec.collection = nil -- implied by the file
    lines[#lines + 1] = repr(rec) .. ",\n"
  end
  lines[#lines + 1] = "}\n"
  write(out_dir .. "/" .. cname .. ".lua", table.concat(lines))
end

local ids = {}
for id in pairs(first_collection) do ids[#ids + 1] = id end
table.sort(ids)
local op_lines = {}
for i, id in ipairs(ids) do op_lines[i] = key_repr(id) .. "=" .. string.format("%q", first_collection[id]) end

-- The index is data only; the loader that reads it is lua/falcon/endpoints/init.lua (hand-written).
local index = { header, [[
--- Index of every Falcon API operation (read by falcon.endpoints).
local M = {}

--- Operation ID -> collection holding it (first occurrence wins, as in FalconPy's Uber class).
M.operations = {]], table.concat(op_lines, ","), [[}

--- Service class name -> collection (FalconPy's classes; their method names are the records' `pep8` and
--- `names`).
M.classes = ]], repr(classes), [[


--- Classes made of several collections (FalconPy's NetworkScan): class -> collections.
M.class_collections = ]], repr(class_info.class_collections), [[


--- The package's other names for a class (FalconPy's PreventionPolicies = PreventionPolicy).
M.class_aliases = ]], repr(class_info.class_aliases), [[


--- Methods a class takes from another collection: class -> { name = { collection, Operation ID } }.
M.class_methods = ]], repr(class_info.class_methods), [[


--- PEP8 names the seed documents use that snake_case of the Operation ID does not give.
M.aliases = ]], repr(seed_aliases), "\n\n",
string.format("M.operation_count = %d -- records in the collection files\n", op_count),
string.format("M.unique_count = %d -- distinct Operation IDs\n\n", #ids), [[
return M
]] }
write(out_dir .. "/index.lua", table.concat(index))
write_index(out_dir, out_dir .. "/INDEX.md")

local class_count = 0
for _ in pairs(classes) do class_count = class_count + 1 end
for _ in pairs(class_info.class_collections) do class_count = class_count + 1 end
io.stderr:write(string.format("gen_endpoints: %d operations (%d distinct ids, %d added from message-center.json) "
  .. "in %d collections, %d service classes -> %s\n", op_count, #ids, mc_added, #names, class_count, out_dir))
for kind, list in pairs(notes) do
  table.sort(list)
  for _, line in ipairs(list) do io.stderr:write("gen_endpoints: ", kind, ": ", line, "\n") end
end
