--- The Falcon API operation tables: an index of every operation (generated into index.lua by
-- tools/gen_endpoints.lua) and a loader for the per-collection files, which load on first use, so a
-- script touching one service pays for one file.
local index = require "falcon.endpoints.index"

local M = {
  operations = index.operations,       -- Operation ID -> collection
  classes = index.classes,             -- service class name -> collection
  aliases = index.aliases,             -- seed-document PEP8 names snake_case does not give
  operation_count = index.operation_count,
  unique_count = index.unique_count,
}

local loaded = {}

--- snake_case of an Operation ID (QueryCasesIdsByFilter -> query_cases_ids_by_filter).
function M.snake(name)
  local s = name:gsub("[^%w]+", "_")
  s = s:gsub("(%l)(%u)", "%1_%2"):gsub("(%d)(%u)", "%1_%2"):gsub("(%u)(%u%l)", "%1_%2")
  s = s:gsub("(%l)(%d)", "%1_%2")
  s = s:lower():gsub("_+", "_"):gsub("^_", ""):gsub("_$", "")
  return s
end

--- The operation records of one collection, indexed by position and by Operation ID.
-- @tparam string name collection name (e.g. "message_center")
-- @treturn table|nil { list = {record...}, by_id = {id = record}, by_name = {pep8/snake = record} }
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
  for _, rec in ipairs(list) do
    local snake = M.snake(rec.id)
    if c.by_id[rec.id] == rec then
      if rec.pep8 and not c.by_name[rec.pep8] then c.by_name[rec.pep8] = rec end
      if not c.by_name[snake] and not c.by_id[snake] then c.by_name[snake] = rec end
    end
  end
  for alias, id in pairs(M.aliases[name] or {}) do c.by_name[alias] = c.by_id[id] end
  loaded[name] = c
  return c
end

--- The record of an Operation ID, or nil.
function M.get(id)
  local cname = M.operations[id]
  if not cname then return nil end
  return M.collection(cname).by_id[id]
end

return M
