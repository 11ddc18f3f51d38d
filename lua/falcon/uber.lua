--- The Uber class: every operation through one `command` method.
--
--     local uber = falcon.APIHarnessV2{ client_id = id, client_secret = secret }
--     uber:command("QueryCasesIdsByFilter", { limit = 10 })
--     uber:command{ action = "GetCaseEntitiesByIDs", body = { ids = { "a", "b" } } }
--     uber:command{ override = "GET,/message-center/queries/cases/v1", parameters = { limit = 1 } }
--
-- Keywords are mapped by the same tables and the same builder as the service classes.
local endpoints = require "falcon.endpoints"
local payload = require "falcon.payload"
local service = require "falcon.service"
local suggest = require "falcon.suggest"

local M = {}

local methods = {}
for k, f in pairs(service.common) do methods[k] = f end

local Uber = { __name = "falcon.APIHarnessV2" }
Uber.__index, Uber.__newindex = service.accessors(methods)
Uber.__close = service.close_object
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

local override_methods = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true, HEAD = true }

--- A synthetic operation for `override = "METHOD,/route"` (also behind service classes' override()).
local function override_op(spec, action)
  if type(spec) ~= "string" then
    payload.fail("command", "override", "\"METHOD,/route\" string expected, got " .. type(spec))
  end
  local method, route = spec:match("^%s*(%a+)%s*,%s*(%S+)%s*$")
  if not method or not override_methods[method:upper()] then
    payload.fail("command", "override",
        "\"METHOD,/route\" with METHOD one of GET, POST, PUT, PATCH, DELETE, HEAD expected, got " .. payload.shown(spec))
  end
  -- the query belongs in `parameters`: a '?' here would be refused by the C core after a token request
  if route:sub(1, 1) ~= "/" or route:find("[%c%s#?]") then
    payload.fail("command", "override",
        "route starting with '/' and free of spaces, control characters, '?' and '#' expected, got " .. payload.shown(route))
  end
  return { id = action or "override", method = method:upper(), route = route, params = {}, synthetic = true }
end

M.override_op = override_op

--- Resolves an action name to its operation record; raises with suggestions when unknown.
function M.resolve(action)
  if type(action) ~= "string" then
    payload.fail("command", "action", "Operation ID string expected, got " .. type(action))
  end
  local op = endpoints.get(action)
  if op then return op end
  local near = M.suggest(action)
  local hint = #near > 0 and ("; did you mean " .. table.concat(near, ", ") .. "?") or ""
  error(string.format("falcon: command: unknown operation '%s'%s", action, hint), 0)
end

local function split_call(action, a1, a2)
  -- command{ action = "...", ... } or command("Op", {...}) or command("Op", "ID")
  local args
  if type(action) == "table" and a1 == nil then
    args = {}
    for k, v in pairs(action) do args[k] = v end
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
    error("falcon: command: call it as a method, with a colon: uber:command(...)", 0)
  end
  local act, x1, x2 = split_call(action, a1, a2)
  local override = type(x1) == "table" and x1.override or nil
  local op
  if override ~= nil then
    op = override_op(override, act)
  else
    if act == nil then payload.fail("command", "action", "Operation ID string expected, got nil") end
    op = M.resolve(act)
  end
  local args = op.synthetic and (x1 or {}) or payload.merge_positional(op, op.id, x1, x2)
  return service.call(self, op, op.id, args)
end

local function resolve_pages(action)
  return M.resolve(action)
end

--- Paged iteration over any operation: for page in uber:pages("QueryDevicesByFilter", {...}) do
function methods.pages(self, action, args, opts)
  return require("falcon.paginate").pages(self, resolve_pages(action), action, args, opts)
end

--- Item iteration across pages: for id in uber:each("QueryCasesIdsByFilter", {...}) do
function methods.each(self, action, args, opts)
  return require("falcon.paginate").each(self, resolve_pages(action), action, args, opts)
end

--- Creates an Uber object.
-- @tparam table opts engine options plus `pythonic`, `auth_object`
function M.new(opts)
  local obj = service.init_object(opts, "APIHarnessV2")
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
