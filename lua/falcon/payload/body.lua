--- The body stage of the request builder: body keyword maps (`content` -> body key `body`, aggregates as a
--- one-element list, `ids` as a JSON list), `body=` passed through with explicit keywords winning, the `ids`
--- convention of body-only entity lookups, and bodies of bytes for the operations whose body may be bytes
--- (their `consumes`: PutObject, ArchiveUploadV1), given as a string or streamed from `file_path`; and the
--- quick path, which builds the common lookup of ids (the whole body) with the same helpers and nothing else.
local json = require "falcon.json"
local check = require "falcon.payload.check"
local policy = require "falcon.base.policy"
local upload = require "falcon.payload.upload"
local util = require "falcon.base.util"

local fail, copy = check.fail, util.copy

local M = {}

--- JSON schema (for json.encode) of a body keyword map.
local function body_schema(op)
  local fields = {}
  for kw, spec in pairs(op.body_keywords) do
    if spec.type == "array" then fields[spec.key or kw] = "array" end
  end
  if op.body_shape == "list" then return { list = { fields = fields } } end
  return { fields = fields }
end

-- The body keys the call's keywords give; `any` when there is at least one.
local function from_keywords(ctx)
  local name, args, fields, any = ctx.name, ctx.args, {}, false
  for kw, spec in pairs(ctx.op.body_keywords) do
    local v = args[kw]
    if v ~= nil then
      ctx.used[kw] = true
      any = true
      -- An empty id list is a 400 from the API: refused here, before the wire.
      local p = { type = spec.type, items = spec.items, required = kw == "ids" }
      if spec.type == "array" then
        v = json.array(check.as_list(name, kw, v, p, spec.split))
      elseif spec.type ~= "object" or v ~= json.null then
        check.check_scalar(name, kw, v, p)
      end
      fields[spec.key or kw] = v
    end
  end
  return fields, any
end

-- An aggregate body: a list of requests; keywords override the first one.
local function list_body(name, body, fields, any)
  if body == nil then return { fields } end
  if not util.is_list(body) then fail(name, "body", "list of aggregate requests expected, got " .. type(body)) end
  if any then
    body = copy(body)
    body[1] = copy(type(body[1]) == "table" and body[1] or {})
    for k, v in pairs(fields) do body[1][k] = v end
  end
  return body
end

-- A body from an operation's keyword map, merged over `body=` when both are given.
local function keyword_body(ctx)
  local op, name, body = ctx.op, ctx.name, ctx.args.body
  local fields, any = from_keywords(ctx)
  if op.body_shape == "list" then return list_body(name, body, fields, any) end
  if body ~= nil then
    if type(body) ~= "table" then fail(name, "body", "table expected, got " .. type(body)) end
    if op.body_keywords.ids and not any and type(body.ids) == "table" and next(body.ids) == nil then
      fail(name, "body.ids", "one or more ids expected, got an empty list")
    end
    if any then
      body = copy(body)
      for k, v in pairs(fields) do body[k] = v end
    end
    return body
  end
  if not any and op.positional == "ids" then
    fail(name, "ids", "string or list of strings expected, got nil")
  end
  return fields
end

--- The media type a body of bytes goes out as (falcon.endpoints.bytes_type); nil for JSON only.
M.bytes_type = require("falcon.endpoints").bytes_type
local takes_json = require("falcon.endpoints").takes_json

-- A body of bytes: `body = bytes`, the Uber class's `data = bytes` (FalconPy's form), or `file_path`,
-- which the engine streams from disk. Sets ctx.raw = { bytes, path, content_type } when one is given.
local function raw_body(ctx, media)
  local args, name = ctx.args, ctx.name
  local bytes, path = nil, args.file_path
  for _, k in ipairs { "body", "data" } do
    if type(args[k]) == "string" then
      if bytes then fail(name, k, "one body expected: body, data (bytes) or file_path") end
      bytes, ctx.used[k] = args[k], true
    end
  end
  if path ~= nil then
    if type(path) ~= "string" then fail(name, "file_path", "string expected, got " .. type(path)) end
    if bytes then fail(name, "file_path", "either file_path or a body of bytes expected, not both") end
    check.check_text(name, "file_path", path)
    upload.file_size(name, "file_path", path) -- a readable regular file, before anything is sent
    ctx.used.file_path = true
  end
  if bytes or path then ctx.raw = { bytes = bytes, path = path, content_type = media } end
end

---------------------------------------------------------------------------------------------
-- The quick path
---------------------------------------------------------------------------------------------

-- The common lookup, `get_cases(ids)`: an operation whose one parameter is its JSON body, called with
-- nothing but `ids`, which is the whole body: the keyword map's `ids` (GetCaseEntitiesByIDs) or the
-- `ids` convention of body-only lookups. Per operation, where the list goes and how it is checked.
local function ids_plan(op)
  local body_param
  for _, p in ipairs(op.params) do
    if p["in"] == "body" then body_param = p
    elseif not (p["in"] == "header" and p.engine) then return false end
  end
  if not body_param or op.synthetic or M.bytes_type(op) then return false end
  local plan = { key = "ids", split = true, spec = { type = "array", items = "string", required = true },
                 binary = op.produces and op.produces ~= "application/json" or nil,
                 repeatable = policy.idempotent(op.method, op.route) }
  local keywords = op.body_keywords
  if keywords then
    local spec = keywords.ids
    if op.body_shape == "list" or not spec or spec.type ~= "array" or next(keywords, next(keywords)) ~= nil then
      return false
    end
    plan.key, plan.split, plan.schema = spec.key or "ids", spec.split, body_schema(op)
    plan.spec = { type = spec.type, items = spec.items, required = true }
  end
  return plan
end
local IDS_BODY = { fields = { ids = "array" } } -- the schema of {"ids": [...]}: a list, whatever it holds
local ids_plans = util.per_record(ids_plan)

--- That call built without the general stages' bookkeeping (the same list check and encoder); nil when
--- the call is anything else, and the general stages take it.
function M.quick(op, args, name)
  local given = args.ids
  if given == nil or next(args, (next(args))) ~= nil then return nil end -- `ids`, and nothing else
  local plan = ids_plans[op]
  local list = check.as_list(name, "ids", given, plan.spec, plan.split)
  return { method = op.method, route = op.route, query = {}, operation = op.id, binary = plan.binary,
           body = json.encode({ [plan.key] = list }, plan.schema or IDS_BODY), content_type = "application/json",
           repeatable = plan.repeatable }
end

--- The quick path of `op` (falcon.payload), or nil when its calls always take the general stages.
function M.quick_for(op)
  return ids_plans[op] and M.quick or nil
end

--- Sets ctx.body (and ctx.schema) from the keywords, or ctx.raw for a body of bytes; ctx.has_body_param
--- says whether the operation takes a body at all.
function M.stage(ctx)
  local op, args, name = ctx.op, ctx.args, ctx.name
  local body_param
  for _, p in ipairs(op.params) do if p["in"] == "body" then body_param = p end end
  ctx.has_body_param = body_param ~= nil
  local media = body_param and M.bytes_type(op)
  if media then
    raw_body(ctx, media)
    if ctx.raw then return end
    if not takes_json(op) then
      fail(name, "body", "bytes (a string) or file_path expected: " .. op.id .. " takes "
        .. table.concat(op.consumes, ", "))
    end
  end
  if op.body_keywords then
    ctx.body, ctx.schema = keyword_body(ctx), body_schema(op)
  elseif args.body ~= nil then
    if type(args.body) ~= "table" then fail(name, "body", "table expected, got " .. type(args.body)) end
    ctx.body = args.body
  elseif body_param and args.ids ~= nil then
    -- MsaIdsRequest convention for body-only entity lookups: ids -> {"ids": [...]}
    ctx.used.ids = true
    local list = check.as_list(name, "ids", args.ids, { type = "array", items = "string", required = true }, true)
    ctx.body = { ids = json.array(list) }
  elseif body_param and body_param.required and not op.synthetic then
    ctx.body = {}
  end
  if args.body ~= nil and not body_param and not op.body_keywords and not op.synthetic then
    fail(name, "body", "not accepted: this operation takes no JSON body")
  end
end

return M
