--- Automatic ID batching: an entity lookup given more ids than the operation accepts is split into
-- batches that are sent concurrently (falcon.parallel) and merged into one response, in the order of
-- the ids given. The limit is the `ids` parameter's maxItems in the operation tables, or the API's
-- documented limit carried by the hand-written body keyword maps (`max_items`).
local json = require "falcon.json"
local parallel = require "falcon.drivers.parallel"
local util = require "falcon.base.util"

local copy = util.copy

local batch = {}

batch.MAX_PARALLEL = 8

local function limit_of(op)
  local keyword = op.body_keywords and op.body_keywords.ids
  local limit = keyword and keyword.max_items or false
  for _, p in ipairs(op.params or {}) do
    if not limit and p.name == "ids" and p["in"] == "query" and p.maxItems then limit = p.maxItems end
  end
  return limit
end

--- `batch.limits[op]`: how many ids one request of `op` may carry, or false when the operation is not
--- batched. Every call asks: worked out once per operation record, asking is a table lookup.
batch.limits = util.per_record(limit_of)

-- "A, B,C" or {"A", "B"} -> {"A", "B"}; anything else is left to the payload checks (nil).
local function id_list(value)
  if type(value) == "string" then
    local ids = {}
    for id in value:gmatch("[^,]+") do
      id = id:match("^%s*(.-)%s*$")
      if id ~= "" then ids[#ids + 1] = id end
    end
    return ids
  end
  if type(value) == "table" and #value > 0 then
    local ids = {}
    for i = 1, #value do ids[i] = value[i] end
    return ids
  end
  return nil
end

--- Splits the keyword arguments of a lookup into batches.
---@return table[]|nil batches argument tables, one per request; nil when no split is needed
---@return string[]|nil ids every id, in the order given
function batch.split(op, args)
  local limit = batch.limits[op]
  if not limit or type(args) ~= "table" then return nil end
  local where, given
  if args.ids ~= nil then
    where, given = "ids", args.ids
  elseif type(args.body) == "table" and args.body.ids ~= nil then
    where, given = "body", args.body.ids
  elseif type(args.parameters) == "table" and args.parameters.ids ~= nil then
    where, given = "parameters", args.parameters.ids
  end
  -- a list that fits needs no copy (the common lookup)
  if type(given) == "table" and #given <= limit then return nil end
  local ids = id_list(given)
  if not ids or #ids <= limit then return nil end
  local batches = {}
  for first = 1, #ids, limit do
    local chunk = {}
    for i = first, math.min(first + limit - 1, #ids) do chunk[#chunk + 1] = ids[i] end
    local part = copy(args)
    if where == "ids" then
      part.ids = chunk
    else
      part[where] = copy(args[where])
      part[where].ids = chunk
    end
    batches[#batches + 1] = part
  end
  return batches, ids
end

-- Resources come back in the order of the ids given (objects by `id`, strings by value); what
-- matches no id keeps its place after the others.
local function ordered(resources, ids)
  local rank = {}
  for i, id in ipairs(ids) do if rank[id] == nil then rank[id] = i end end
  local keyed = {}
  for i, item in ipairs(resources) do
    local id = type(item) == "table" and item.id or item
    keyed[i] = { item = item, rank = rank[id] or (#ids + i), index = i }
  end
  table.sort(keyed, function(a, b)
    if a.rank ~= b.rank then return a.rank < b.rank end
    return a.index < b.index
  end)
  local out = json.array()
  for i, k in ipairs(keyed) do out[i] = k.item end
  return out
end

--- One response from the responses of every batch: the worst status, the last headers (the freshest
--- rate-limit figures), errors and resources concatenated, meta.query_time summed, every trace id kept.
function batch.merge(responses, ids)
  local status, last, failure = 0, nil, nil
  local errors, resources, traces = json.array(), {}, {}
  local meta, query_time = nil, 0
  for _, response in ipairs(responses) do
    status = math.max(status, tonumber(response.status_code) or 500)
    last = response
    failure = failure or response.transport_error
    local body = type(response.body) == "table" and response.body or {}
    for _, e in ipairs(type(body.errors) == "table" and body.errors or {}) do errors[#errors + 1] = e end
    for _, r in ipairs(type(body.resources) == "table" and body.resources or {}) do resources[#resources + 1] = r end
    if type(body.meta) == "table" then
      meta = meta or copy(body.meta)
      query_time = query_time + (tonumber(body.meta.query_time) or 0)
      if body.meta.trace_id then traces[#traces + 1] = body.meta.trace_id end
    end
  end
  meta = meta or {}
  meta.query_time = query_time
  meta.trace_ids = traces
  meta.batches = #responses
  return {
    status_code = status,
    headers = last.headers,
    body = { meta = meta, errors = errors, resources = ordered(resources, ids) },
    transport_error = failure,
  }
end

--- Sends the batch requests concurrently on `client` and merges the answers.
function batch.send(client, requests, ids)
  local tasks = {}
  for i, request in ipairs(requests) do tasks[i] = function() return client:request(request) end end
  local results, errors = parallel.run(tasks, { max = math.min(#tasks, batch.MAX_PARALLEL) })
  if errors then -- client:request raises only on a bug; do not hide it
    for i = 1, #tasks do if errors[i] then error(errors[i], 0) end end
  end
  return batch.merge(results, ids)
end

return batch
