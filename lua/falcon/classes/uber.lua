--- The Uber class: every operation through one `command` method.
--
--     local uber = falcon.APIHarnessV2{ client_id = id, client_secret = secret }
--     uber:command("QueryCasesIdsByFilter", { limit = 10 })
--     uber:command{ action = "GetCaseEntitiesByIDs", body = { ids = { "a", "b" } } }
--     uber:command{ override = "GET,/message-center/queries/cases/v1", parameters = { limit = 1 } }
--
-- Its forms (`data = {field = value}`, `files = {...}`, `headers = {...}`, `content_type`, `override`) are
-- turned into keywords and `extra` by falcon.call.forms before the call layer (falcon.call) is called: from
-- there the same tables and the same builder serve both classes.
local call = require "falcon.call"
local case_watch = require "falcon.watch.case_watch"
local endpoints = require "falcon.endpoints"
local errors = require "falcon.base.errors"
local forms = require "falcon.call.forms"
local object = require "falcon.call.object"
local paginate = require "falcon.call.paginate"
local payload = require "falcon.payload"
local suggest = require "falcon.base.suggest"
local util = require "falcon.base.util"

local fail = errors.bad_argument

local M = {}

local methods = util.copy(object.common)

local Uber = { __name = "falcon.APIHarnessV2" }
Uber.__index, Uber.__newindex = object.accessors(methods)
Uber.__close = object.close
Uber.__tostring = function(self)
  return "falcon.APIHarnessV2(" .. tostring(self._client:base_url()) .. ")"
end

--- The nearest Operation IDs to a misspelt action (at most `n`).
function M.suggest(action, n)
  n = n or 3
  local squashed = action:lower():gsub("[_%-%s]", "")
  local scored = {}
  -- snake_case or differently cased spellings of an Operation ID come first
  for id in pairs(endpoints.operations) do
    if id:lower():gsub("[_%-%s]", "") == squashed then scored[#scored + 1] = { id, 0 } end
  end
  for i, id in ipairs(suggest.nearest(action, endpoints.operations, n)) do
    scored[#scored + 1] = { id, i }
  end
  -- PEP8 names of Message Center and the seed aliases point at their Operation IDs.
  local mc = endpoints.collection("message_center")
  for alias, rec in pairs(mc.by_name) do
    if rec.pep8 == alias and alias == action:lower() then scored[#scored + 1] = { rec.id, 0 } end
  end
  for _, list in pairs(endpoints.aliases) do
    for alias, id in pairs(list) do
      if alias == action:lower() then scored[#scored + 1] = { id, 0 } end
    end
  end
  table.sort(scored, function(x, y)
    if x[2] ~= y[2] then return x[2] < y[2] end
    return x[1] < y[1]
  end)
  local out, seen = {}, {}
  for _, s in ipairs(scored) do
    if #out >= n then break end
    if not seen[s[1]] then out[#out + 1] = s[1]; seen[s[1]] = true end
  end
  return out
end

M.override_op = forms.override_op

--- Resolves an action name to its operation record; raises with suggestions when unknown.
function M.resolve(action)
  if type(action) ~= "string" then
    fail("command", "action", "Operation ID string expected, got " .. type(action))
  end
  local op = endpoints.get(action)
  if op then return op end
  local near = M.suggest(action)
  local hint = #near > 0 and ("; did you mean " .. table.concat(near, ", ") .. "?") or ""
  errors.raise("command", "unknown operation '%s'%s", action, hint)
end

--- The Uber forms of a call as the service classes' keywords and `extra` (falcon.call.forms.keywords).
M.keywords = forms.keywords

local function split_call(action, a1, a2)
  -- command{ action = "...", ... } or command("Op", {...}) or command("Op", "ID")
  local args
  if type(action) == "table" and a1 == nil then
    args = util.copy(action)
    action = args.action
    args.action = nil
    return action, args, nil
  end
  return action, a1, a2
end

--- Calls any operation by Operation ID.
-- @tparam string|table action Operation ID, or a table with `action` (or `override`) and keywords
-- @tparam[opt] table|string args keywords (or positional ids)
-- @return the response table (default), a Result (pythonic), bytes (downloads), or
--   status_code, headers, content with `expand_result = true`
function methods.command(self, action, a1, a2)
  if type(self) ~= "table" or rawget(self, "_client") == nil then
    errors.raise("command", "call it as a method, with a colon: uber:command(...)")
  end
  local act, x1, x2 = split_call(action, a1, a2)
  local override = type(x1) == "table" and x1.override or nil
  local op
  if override ~= nil then
    op = forms.override_op(override, act)
  else
    if act == nil then fail("command", "action", "Operation ID string expected, got nil") end
    op = M.resolve(act)
  end
  local args = op.synthetic and (x1 or {}) or payload.merge_positional(op, op.id, x1, x2)
  return call.invoke(self, op, op.id, forms.keywords(op, args, op.id))
end

-- The operation and the Uber forms of an iteration's first call, as paginate takes them.
local function paged(action, args)
  local op = M.resolve(action)
  return op, forms.keywords(op, args, action)
end

--- Paged iteration over any operation: for page in uber:pages("QueryDevicesByFilter", {...}) do
function methods.pages(self, action, args, opts)
  local op, kw, extra = paged(action, args)
  return paginate.pages(self, op, action, kw, opts, extra)
end

--- Item iteration across pages: for id in uber:each("QueryCasesIdsByFilter", {...}) do
function methods.each(self, action, args, opts)
  local op, kw, extra = paged(action, args)
  return paginate.each(self, op, action, kw, opts, extra)
end

--- A watch on Message Center cases (falcon.CaseWatch), as MessageCenter's watch: uber:watch_cases { ... }
function methods.watch_cases(self, opts)
  return case_watch.with_client(self, opts, "watch_cases")
end

--- Creates an Uber object.
-- @tparam table opts engine options plus `pythonic`, `auth_object`
function M.new(opts)
  local obj = object.init(opts, "APIHarnessV2")
  return setmetatable(obj, Uber)
end

--- The callable class table (falcon.APIHarnessV2 / falcon.APIHarness).
M.APIHarnessV2 = setmetatable({ new = M.new, name = "APIHarnessV2" }, {
  __call = function(_, opts) return M.new(opts) end,
  __tostring = function() return "falcon.APIHarnessV2" end,
})
--- FalconPy's older Uber class name; the same class here (one engine serves both).
M.APIHarness = M.APIHarnessV2

return M
