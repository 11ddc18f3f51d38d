--- FalconPy's side of the operation tables, applied by tools/gen_endpoints.lua: FalconPy's service classes
--- and method names (read from tools/falconpy_names.lua), its keyword for each parameter whose name is not a
--- Python identifier, the values it supplies where the API requires one the spec does not state, and the
--- media types operations take where they are not JSON or multipart. Facts of FalconPy 1.6.2's source and
--- of the Falcon swagger; falconlua's departures (the token operations) say why.
local snake = require("falcon.base.util").snake

local M = {}

-- Keywords that steer a call (falcon.payload, falcon.classes.uber): a parameter's FalconPy spelling never takes one.
local CONTROL = {}
for k in ([[body parameters expand_result save_to file_data upfile file_name file_path data override action
  headers files content_type]]):gmatch("%S+") do CONTROL[k] = true end

--- FalconPy's keyword for a parameter whose name is not one (account-ids, ID, X-File-Password, orderBy):
--- its snake_case, as FalconPy's methods take it (kwargs.get("account_ids") -> "account-ids"). Sets p.alias;
--- a spelling another parameter or a control keyword already has is left out and noted.
function M.keyword_aliases(op_id, params, notes)
  local taken = {}
  for _, p in ipairs(params) do taken[p.name] = true end
  for _, p in ipairs(params) do
    local keyword = snake(p.name)
    if p["in"] ~= "body" and not p.engine and keyword ~= p.name then
      if taken[keyword] or CONTROL[keyword] then
        notes[#notes + 1] = op_id .. ": no alias " .. keyword .. " for " .. p.name .. " (taken)"
      else
        p.alias, taken[keyword] = keyword, true
      end
    end
  end
end

-- Values FalconPy's service classes send when the caller gives none, where the API requires the parameter
-- and the spec states no value (falcon_container.py, event_streams.py, intel.py, real_time_response*.py,
-- custom_storage.py). Applied to every record of the operation's method and route (its other spellings).
-- `add` is a parameter the spec lacks.
M.supplied = {
  ImageMatchesPolicy = { policy_type = { value = "image-prevention-policy",
    add = { name = "policy_type", ["in"] = "query", type = "string", enum = { "image-prevention-policy" } } } },
  refreshActiveStreamSession = { action_name = { value = "refresh_active_stream_session" } },
  GetMalwareMitreReport = { format = { value = "JSON" } },
  RTR_CheckActiveResponderCommandStatus = { sequence_id = { value = 0 } },
  RTR_CheckCommandStatus = { sequence_id = { value = 0 } },
  RTR_CheckAdminCommandStatus = { sequence_id = { value = 0 } },
  GetSchema = { schema_version = { value = "latest" } },
  GetSchemaMetadata = { schema_version = { value = "latest" } },
}

-- The media types a body may have, where they are not the default (JSON for a body parameter, multipart
-- for form data): the Falcon swagger's `consumes`, which the shared spec leaves out (CrowdStrike's gofalcon
-- client carries it per operation). A body of bytes goes out as the first type that is not JSON or a form;
-- FalconPy sends PutObject's bytes as application/octet-stream too.
local OCTET = "application/octet-stream"
M.consumes = {
  PutObject = { OCTET, "application/json" },
  PutObjectByVersion = { OCTET, "application/json" },
  ArchiveUploadV1 = { OCTET, "application/x-7z-compressed", "application/x-zip-compressed", "application/zip" },
  WorkflowDefinitionsUpdate = { "application/json", "application/yaml" },
  StartSearchV1 = { "application/json", "application/x-www-form-urlencoded" },
  ExecuteCommand = { "application/json", "multipart/form-data" },
  UploadSampleV2 = { "multipart/form-data", OCTET },
  UploadSampleV3 = { "multipart/form-data", OCTET },
  UploadFileQuickScanPro = { "multipart/form-data", OCTET },
  UploadFileMixin0Mixin94 = { "multipart/form-data", OCTET },
  oauth2AccessToken = { "application/x-www-form-urlencoded" },
  oauth2RevokeToken = { "application/x-www-form-urlencoded" },
}

-- falconlua's departure: the token operations are refused through command() and service classes alike.
-- The token endpoint's answer is a bearer token, which falconlua keeps in C memory and never hands to a Lua
-- table; revoking needs the client secret as HTTP Basic, which only the C core holds.
M.refused = {
  oauth2AccessToken = "the token request is the engine's: use login() (or just call an operation), which "
    .. "fetches the token and keeps it in C memory; a token never reaches a Lua table",
  oauth2RevokeToken = "revoking is the engine's: use logout(), which revokes the token this object holds "
    .. "with the client secret kept in C memory",
}

--- Applies `supplied`, `consumes` and `refused` to the records (lists per collection). Each table is keyed
--- by an Operation ID; every record with that operation's method and route gets it.
function M.apply(collections)
  local by_route, first = {}, {}
  for _, list in pairs(collections) do
    for _, rec in ipairs(list) do
      local key = rec.method .. " " .. rec.route
      by_route[key] = by_route[key] or {}
      table.insert(by_route[key], rec)
      first[rec.id] = first[rec.id] or rec
    end
  end
  local function each(id, fn)
    local rec = assert(first[id], "no operation " .. id)
    for _, r in ipairs(by_route[rec.method .. " " .. rec.route]) do fn(r) end
  end
  for id, values in pairs(M.supplied) do
    each(id, function(rec)
      for name, s in pairs(values) do
        local param
        for _, p in ipairs(rec.params) do if p.name == name then param = p end end
        if not param then
          param = assert(s.add, id .. ": no parameter " .. name)
          local copy = {}
          for k, v in pairs(param) do copy[k] = v end
          param = copy
          rec.params[#rec.params + 1] = param
        end
        param.supplied = s.value
      end
    end)
  end
  for id, types in pairs(M.consumes) do each(id, function(rec) rec.consumes = types end) end
  for id, why in pairs(M.refused) do each(id, function(rec) rec.refused = why end) end
end

---------------------------------------------------------------------------------------------
-- FalconPy's service classes and method names
---------------------------------------------------------------------------------------------

-- The collection a class serves: the spec's word for it, else the one holding most of its operations.
local function primary_collection(class, info, spec_classes, by_id)
  local named = spec_classes[class]
  if named then return by_id[named.collection] and named.collection or named.module end
  local count, best = {}, nil
  for _, pair in ipairs(info.methods) do
    for cname, ids in pairs(by_id) do
      if ids[pair[2]] then count[cname] = (count[cname] or 0) + 1 end
    end
  end
  for cname, n in pairs(count) do
    if not best or n > count[best] or (n == count[best] and cname < best) then best = cname end
  end
  return assert(best, "no collection for FalconPy class " .. class)
end

-- A FalconPy name of a record: its PEP8 name (the first snake_case one), else one of its other names.
local function add_name(rec, name)
  if not rec.pep8 and name:match("^[%l_][%l%d_]*$") then
    rec.pep8 = name
  elseif name ~= rec.pep8 then
    rec.names = rec.names or {}
    for _, n in ipairs(rec.names) do if n == name then return end end
    rec.names[#rec.names + 1] = name
  end
end

-- Puts one class's method names on the records of its collection; a name that is another operation's ID
-- stays that operation's (notes.shadowed), an operation of another collection goes to `extra`.
local function name_methods(class, info, cname, by_id, first_of, extra, notes)
  local ids, seen = by_id[cname], {}
  for _, pair in ipairs(info.methods) do
    local name, id = pair[1], pair[2]
    local rec = ids[id]
    if not rec then
      extra[class] = extra[class] or {}
      extra[class][name] = { assert(first_of[id], class .. "." .. name .. ": no operation " .. id), id }
    elseif ids[name] and ids[name] ~= rec then
      notes.shadowed[#notes.shadowed + 1] = class .. "." .. name .. " (FalconPy: " .. id .. ")"
    elseif seen[name] and seen[name] ~= rec then
      notes.other[#notes.other + 1] = class .. "." .. name .. " names two operations: kept " .. seen[name].id
    elseif name ~= rec.id then
      seen[name] = rec
      add_name(rec, name)
    end
  end
end

--- The service classes from FalconPy's (tools/falconpy_names.lua): class -> collection, the classes made
--- of several (NetworkScan), the package's other names for a class, and methods a class takes from another
--- collection; sets `pep8` and `names` on the records. notes: { shadowed = {...}, other = {...} }.
function M.classes(collections, spec_classes, data, first_collection, notes)
  local by_id = {}
  for cname, list in pairs(collections) do
    local ids = {}
    for _, rec in ipairs(list) do ids[rec.id] = ids[rec.id] or rec end
    by_id[cname] = ids
  end
  local out = { classes = {}, class_collections = {}, class_aliases = data.aliases, class_methods = {} }
  local names = {}
  for class in pairs(data.classes) do names[#names + 1] = class end
  table.sort(names)
  for _, class in ipairs(names) do
    local info = data.classes[class]
    if #info.bases == 0 then
      out.classes[class] = primary_collection(class, info, spec_classes, by_id)
      name_methods(class, info, out.classes[class], by_id, first_collection, out.class_methods, notes)
    end
  end
  for _, class in ipairs(names) do
    local bases = data.classes[class].bases
    if #bases > 0 then
      local list = {}
      for i, base in ipairs(bases) do list[i] = assert(out.classes[base], class .. ": base " .. base) end
      out.class_collections[class] = list
    end
  end
  return out
end

return M
