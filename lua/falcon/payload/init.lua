--- Keyword arguments -> an engine request, driven by the operation tables.
--
-- One builder, `build`, serves the service classes and the Uber class through the call layer
-- (falcon.call; falcon.call.forms turns the Uber forms into these keywords and ready multipart parts and
-- headers, `extra`), so a keyword never lands in different places between them. It follows FalconPy's
-- mapping (../shared/spec/API.md) in stages, one module each:
--   0. the quick path       the common calls, built at once with the stages' own helpers, nothing else
--                           (`quick[op]`, which falcon.call asks first): payload_query.quick (query keywords
--                           only), payload_body.quick (a lookup of `ids` that is the whole JSON body); nil
--                           for anything else, which `build` takes;
--   1. payload_query        `parameters=`, query, path and header parameters;
--   2. payload_upload       form-data keywords, Uber's form parts, the file part and the upload rules;
--   3. payload_body         body keyword maps, `body=`, `ids` for body-only lookups;
--   4. here                 keywords no stage took (an error naming them), control keywords, the request.
-- Every check runs before a request exists: bad input raises an error naming the argument
-- (payload_check) and nothing is sent. spec/payload_build_spec.lua checks over every operation that the
-- quick path builds what the stages build, or declines.
local errors = require "falcon.base.errors"
local json = require "falcon.json"
local check = require "falcon.payload.check"
local policy = require "falcon.base.policy"
local query = require "falcon.payload.query"
local upload = require "falcon.payload.upload"
local body = require "falcon.payload.body"
local util = require "falcon.base.util"

local fail, copy = check.fail, util.copy

local M = {}

-- Keywords that steer the call rather than name API parameters.
local control = {
  body = true, parameters = true, expand_result = true, save_to = true, file_data = true,
  upfile = true, file_name = true, file_path = true, data = true, override = true, action = true,
}

-- Per-operation facts that do not depend on the call, computed once (the tables are generated data).
local params_by_name = util.per_record(function(op)
  local map = {}
  for _, p in ipairs(op.params) do map[p.name] = p end
  return map
end)

-- What an unknown keyword's error lists as accepted.
local function known_keywords(ctx)
  local op, known = ctx.op, {}
  for _, p in ipairs(op.params) do
    if p["in"] ~= "body" and not p.engine and p.type ~= "file" then
      known[#known + 1] = p.name
      if p.alias then known[#known + 1] = p.alias end
    end
  end
  for kw in pairs(op.body_keywords or {}) do known[#known + 1] = kw end
  if ctx.has_body_param and not op.body_keywords then known[#known + 1] = "ids" end
  if ctx.has_body_param or op.body_keywords then known[#known + 1] = "body" end
  for _, p in ipairs(op.params) do
    if p["in"] == "query" then known[#known + 1] = "parameters"; break end
  end
  if ctx.file_param then known[#known + 1] = "file_data, file_name, file_path" end
  if ctx.has_body_param and body.bytes_type(op) then known[#known + 1] = "data, file_path" end
  table.sort(known)
  return known
end

-- Anything no stage took is a keyword this operation does not know (an override's go to the query).
local function check_leftovers(ctx)
  local args, name = ctx.args, ctx.name
  for k, v in pairs(args) do
    if type(k) == "string" and v ~= nil and not ctx.used[k] and not control[k] then
      if ctx.op.synthetic then
        query.add_untyped(name, ctx.query, k, v)
      else
        fail(name, k, "unknown keyword; expected one of: " .. table.concat(known_keywords(ctx), ", "))
      end
    elseif type(k) ~= "string" then
      fail(name, tostring(k), "keyword arguments expected (positional values are taken only as ids)")
    end
  end
  if args.save_to ~= nil then
    if type(args.save_to) ~= "string" or args.save_to == "" then
      fail(name, "save_to", "file path string expected, got " .. type(args.save_to))
    end
    check.check_text(name, "save_to", args.save_to)
  end
  if args.expand_result ~= nil and type(args.expand_result) ~= "boolean" then
    fail(name, "expand_result", "boolean expected, got " .. type(args.expand_result))
  end
end

-- The engine request from what the stages gathered (and the headers Uber's forms added). A request carries a
-- Content-Type only with a body: the body's own (JSON, multipart, or the bytes' media type), or Uber's
-- `content_type` over it.
local function request_of(ctx, extra)
  local op = ctx.op
  local request = { method = op.method, route = ctx.route, query = ctx.query, operation = op.id,
                    save_to = ctx.args.save_to, repeatable = policy.idempotent(op.method, ctx.route) }
  for k, v in pairs(extra and extra.headers or {}) do ctx.headers[k] = v end
  if next(ctx.headers) then request.headers = ctx.headers end
  if ctx.form and #ctx.form > 0 then
    if ctx.body ~= nil then fail(ctx.name, "body", "either a JSON body or multipart form data expected, not both") end
    request.form = ctx.form
  elseif ctx.raw then
    request.body, request.body_path, request.content_type = ctx.raw.bytes, ctx.raw.path, ctx.raw.content_type
  elseif ctx.body ~= nil then
    request.body = json.encode(ctx.body, ctx.schema)
    request.content_type = "application/json"
  end
  local content_type = extra and extra.content_type
  if content_type and not (content_type:lower():find("^multipart/") and request.form) then
    if not (request.form or request.body or request.body_path) then
      fail(ctx.name, "content_type", "not accepted: this request has no body")
    end
    request.content_type = content_type
  end
  if op.produces and op.produces ~= "application/json" then request.binary = true end
  return request
end

--- Builds the engine request for an operation: the general stages, for every call.
-- @tparam table op operation record from falcon.endpoints (or a synthetic one for overrides)
-- @tparam table args keyword arguments
-- @tparam[opt] string name the caller's name for the operation, for messages (default: its id)
-- @tparam[opt] table extra what falcon.call.forms made of the Uber forms, checked: `form` parts, `files` = true
--   when Uber `files` gave the file, `headers`, `content_type`
-- @treturn table request for `client:request`
function M.build(op, args, name, extra)
  name = name or op.id
  if op.refused then errors.raise(name, "%s", op.refused) end
  if type(args) ~= "table" then fail(name, "arguments", "table of keyword arguments expected, got " .. type(args)) end
  local ctx = { op = op, args = args, name = name, used = {}, query = {}, headers = {}, route = op.route,
                by_name = params_by_name[op] }
  query.stage(ctx)
  upload.stage(ctx, extra)
  body.stage(ctx)
  upload.check_unused(ctx)
  check_leftovers(ctx)
  return request_of(ctx, extra)
end

--- `quick[op]`: the quick path of an operation, a function(op, args, name) that builds a common call
--- (a table of keywords, no Uber forms) exactly as `build` does, or returns nil for `build` to take it; false
--- when the operation has none. Worked out once per operation record. falcon.call asks it first.
M.quick = util.per_record(function(op)
  return not op.refused and (query.quick_for(op) or body.quick_for(op)) or false
end)

--- Merges positional arguments into a keyword table.
-- `f("A,B")`, `f{"A","B"}`, `f("A", {kw...})`, `f({"A","B"}, {kw...})` and `f{ids=..., ...}`.
-- The positional value goes to `op.positional`, else to an `ids` / `id` parameter.
local function positional_target(op)
  local target = op.positional
  if not target then
    for _, p in ipairs(op.params) do
      if p.name == "ids" and p["in"] ~= "body" then target = "ids" end
    end
    if not target then
      for _, p in ipairs(op.params) do if p["in"] == "body" then target = "ids" end end
    end
    if not target then
      for _, p in ipairs(op.params) do if p.name == "id" and p["in"] ~= "body" then target = "id" end end
    end
  end
  return target
end
-- Worked out once per operation record (false: none).
local targets = util.per_record(function(op) return positional_target(op) or false end)

function M.merge_positional(op, name, a1, a2)
  local kw, positional, fresh
  if a1 == nil then
    kw = a2 or {}
  elseif type(a1) == "string" or type(a1) == "number" then
    positional, kw = a1, a2 or {}
  elseif type(a1) == "table" then
    if a2 ~= nil then
      positional, kw = a1, a2
    elseif #a1 > 0 then
      -- {"A", "B", limit = 5}: the array part is the positional ids
      kw, fresh = {}, true
      local list = {}
      for k, v in pairs(a1) do
        if type(k) == "number" then list[k] = v else kw[k] = v end
      end
      positional = list
    else
      kw = a1
    end
  else
    fail(name, "arguments", "table of keyword arguments expected, got " .. type(a1))
  end
  if type(kw) ~= "table" then fail(name, "arguments", "table of keyword arguments expected, got " .. type(kw)) end
  if positional ~= nil then
    local target = targets[op]
    if not target then fail(name, "arguments", "keyword table expected; this operation takes no positional ids") end
    if kw[target] ~= nil then fail(name, target, "given both positionally and as a keyword") end
    local merged = fresh and kw or copy(kw) -- the caller's own table is left as it was
    if target == "id" and type(positional) == "table" then
      if #positional ~= 1 then fail(name, "id", "one id expected, got a list of " .. #positional) end
      positional = positional[1]
    end
    merged[target] = positional
    kw = merged
  end
  return kw
end

return M
