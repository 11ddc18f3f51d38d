--- Small table and name helpers shared by the request builder, batching and paging layers, and the
--- endpoint generator (which loads this module without the C core, so it requires nothing).
local M = {}

--- A shallow copy of a keyword, body or response table (nil gives an empty table). Batching and
--- paging send variations of one call, each on its own copy.
function M.copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

--- True for a table whose keys are exactly 1..n (json.null, a light userdata, is not a list).
function M.is_list(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

--- `facts[record]`: compute(record), worked out on first use and kept as long as the record lives (a weak
--- key). For facts of the generated operation records that every call asks about; `compute` returns false
--- for "none" (nil would be worked out again each time).
function M.per_record(compute)
  return setmetatable({}, { __mode = "k", __index = function(facts, record)
    local fact = compute(record)
    facts[record] = fact
    return fact
  end })
end

--- The keys of a table, sorted (by `compare`, default `<`): a stable order for what goes on the wire.
function M.sorted_keys(t, compare)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, compare)
  return keys
end

--- snake_case of a name: QueryCasesIdsByFilter -> query_cases_ids_by_filter, account-ids -> account_ids,
--- X-File-Password -> x_file_password, ID -> id (Operation IDs as method names, FalconPy's keywords).
function M.snake(name)
  local s = name:gsub("[^%w]+", "_")
  s = s:gsub("(%l)(%u)", "%1_%2"):gsub("(%d)(%u)", "%1_%2"):gsub("(%u)(%u%l)", "%1_%2")
  s = s:gsub("(%l)(%d)", "%1_%2")
  s = s:lower():gsub("_+", "_"):gsub("^_", ""):gsub("_$", "")
  return s
end

return M
