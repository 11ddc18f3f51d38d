--- Small table helpers shared by the request builder, batching and paging layers.
local json = require "falcon.json"

local M = {}

--- A shallow copy of a keyword, body or response table (nil gives an empty table). Batching and
--- paging send variations of one call, each on its own copy.
function M.copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

--- True for a table whose keys are exactly 1..n (json.null is not a list).
function M.is_list(t)
  if type(t) ~= "table" or t == json.null then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

--- The keys of a table, sorted (by `compare`, default `<`): a stable order for what goes on the wire.
function M.sorted_keys(t, compare)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, compare)
  return keys
end

return M
