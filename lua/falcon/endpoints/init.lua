--- The Falcon API operation tables: an index of every operation (generated into index.lua by
-- tools/gen_endpoints.lua) and a loader for the per-collection files, which load on first use, so a
-- script touching one service pays for one file.
local index = require "falcon.endpoints.index"

local M = {
  operations = index.operations,       -- Operation ID -> collection
  classes = index.classes,             -- service class name -> collection
  class_collections = index.class_collections, -- classes made of several collections (NetworkScan)
  class_aliases = index.class_aliases, -- other names of a class (PreventionPolicies)
  class_methods = index.class_methods, -- methods a class takes from another collection (IOC)
  aliases = index.aliases,             -- seed-document PEP8 names snake_case does not give
  operation_count = index.operation_count,
  unique_count = index.unique_count,
}

local loaded = {}

--- snake_case of an Operation ID (QueryCasesIdsByFilter -> query_cases_ids_by_filter).
M.snake = require("falcon.base.util").snake

--- The operation records of one collection, indexed by position and by Operation ID.
-- by_name holds FalconPy's method names of each operation first (its PEP8 name, `pep8`, and the others,
-- `names`: tools/falconpy_names.lua), then the snake_case of each Operation ID where no operation took it;
-- an Operation ID always names its own operation (classes/service.lua looks in by_id first).
-- @tparam string name collection name (e.g. "message_center")
-- @treturn table|nil { name, list = {record...}, by_id = {id = record}, by_name = {pep8/snake = record} }
function M.collection(name)
  local c = loaded[name]
  if c then return c end
  local ok, list = pcall(require, "falcon.endpoints." .. name)
  if not ok or type(list) ~= "table" then return nil end
  c = { name = name, list = list, by_id = {}, by_name = {} }
  for _, rec in ipairs(list) do
    rec.collection = name
    if not c.by_id[rec.id] then c.by_id[rec.id] = rec end
  end
  local function take(alias, rec)
    if not c.by_name[alias] and not c.by_id[alias] then c.by_name[alias] = rec end
  end
  for _, rec in ipairs(list) do
    if c.by_id[rec.id] == rec then
      if rec.pep8 then take(rec.pep8, rec) end
      for _, alias in ipairs(rec.names or {}) do take(alias, rec) end
    end
  end
  for _, rec in ipairs(list) do
    if c.by_id[rec.id] == rec then take(M.snake(rec.id), rec) end
  end
  for alias, id in pairs(M.aliases[name] or {}) do c.by_name[alias] = c.by_id[id] end
  loaded[name] = c
  return c
end

--- What a service class answers to, in the shape of a collection: its collection, or for a class made of
--- several (NetworkScan) or taking methods from another (IOC) a merged view; an alias (PreventionPolicies)
--- is its class. nil for a name that is no class.
function M.class_view(class)
  class = M.class_aliases[class] or class
  local cname, extra = M.classes[class], M.class_methods[class]
  if cname and not extra then return M.collection(cname) end
  local parts = cname and { cname } or M.class_collections[class]
  if not parts then return nil end
  local view = { name = parts[1], list = {}, by_id = {}, by_name = {} }
  for _, part in ipairs(parts) do
    local c = M.collection(part)
    for _, rec in ipairs(c.list) do
      view.list[#view.list + 1] = rec
      if c.by_id[rec.id] == rec and not view.by_id[rec.id] then view.by_id[rec.id] = rec end
    end
    for alias, rec in pairs(c.by_name) do
      if not view.by_name[alias] then view.by_name[alias] = rec end
    end
  end
  for alias, where in pairs(extra or {}) do
    if not view.by_id[alias] then view.by_name[alias] = M.collection(where[1]).by_id[where[2]] end
  end
  return view
end

-- Media types that are not "bytes": a body of one of these is built from a table (JSON) or form parts.
local STRUCTURED = { ["application/json"] = true, ["multipart/form-data"] = true,
                     ["application/x-www-form-urlencoded"] = true }

--- The media type a body of bytes goes out as: the first type the operation consumes that is not JSON or a
--- form (application/octet-stream for PutObject and ArchiveUploadV1, application/yaml for a workflow); nil
--- for an operation whose body is JSON only.
function M.bytes_type(op)
  for _, media in ipairs(op.consumes or {}) do
    if not STRUCTURED[media] then return media end
  end
  return nil
end

--- Whether the operation's body may be JSON (the default, or application/json among its `consumes`).
function M.takes_json(op)
  if not op.consumes then return true end
  for _, media in ipairs(op.consumes) do
    if media == "application/json" then return true end
  end
  return false
end

--- The record of an Operation ID, or nil.
function M.get(id)
  local cname = M.operations[id]
  if not cname then return nil end
  return M.collection(cname).by_id[id]
end

return M
