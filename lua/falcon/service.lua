--- Service classes built from the operation tables (falcon.MessageCenter, falcon.Hosts, ...).
--
-- A service object owns (or shares) one engine client and exposes each operation of its
-- collection under its Operation ID, its PEP8 name (Message Center and the seed examples), and
-- the snake_case of its Operation ID:
--
--     local mc = falcon.MessageCenter{ client_id = id, client_secret = secret }
--     local r = mc:query_cases{ filter = "case.status:'open'", limit = 10 }
--     local same = mc:QueryCasesIdsByFilter{ filter = "case.status:'open'", limit = 10 }
--
-- This module also holds the call path shared with the Uber class (`M.call`): payload
-- building, the decommission warning, and shaping the response for the object's mode.
local endpoints = require "falcon.endpoints"
local batch = require "falcon.batch"
local payload = require "falcon.payload"
local Result = require "falcon.result"
local APIError = require "falcon.errors"

local M = {}

-- Options that belong to the SDK layer, not to the engine.
local layer_options = { pythonic = true, auth_object = true }

--- Shared by service and Uber objects: builds the engine client (or borrows another's).
-- @tparam table opts constructor options
-- @tparam string what class name, for messages
-- @treturn table the fields every API object has: _client, _pythonic
function M.init_object(opts, what)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    error(string.format("falcon: %s: bad argument 'options' (table expected, got %s)", what, type(opts)), 3)
  end
  local pythonic = opts.pythonic
  if pythonic ~= nil and type(pythonic) ~= "boolean" then
    error(string.format("falcon: %s: bad argument 'pythonic' (boolean expected, got %s)", what, type(pythonic)), 3)
  end
  local client
  local auth = opts.auth_object
  if auth ~= nil then
    if type(auth) ~= "table" then
      error(string.format("falcon: %s: bad argument 'auth_object' (service, Uber or client object expected, got %s)",
          what, type(auth)), 3)
    end
    client = rawget(auth, "_client") or auth
    if type(client.request) ~= "function" then
      error(string.format("falcon: %s: bad argument 'auth_object' (service, Uber or client object expected)", what), 3)
    end
    for k in pairs(opts) do
      if not layer_options[k] then
        error(string.format("falcon: %s: bad argument '%s' (not accepted with auth_object: "
          .. "the shared client keeps its own settings)", what, tostring(k)), 3)
      end
    end
  else
    local engine_opts = {}
    for k, v in pairs(opts) do
      if not layer_options[k] then engine_opts[k] = v end
    end
    local Client = require "falcon.client"
    client = Client.new(engine_opts)
  end
  return { _client = client, _pythonic = pythonic == true }
end

local warned = {}

--- Warns once per process that an operation is decommissioned upstream.
local function warn_decommissioned(op)
  if warned[op.id] then return end
  warned[op.id] = true
  io.stderr:write(string.format(
    "falcon: warning: %s (%s %s) is decommissioned upstream and may stop working at any time\n",
    op.id, op.method, op.route))
end

--- Builds the request(s) for keyword arguments, sends them and returns the engine's response table.
function M.send(obj, op, name, args)
  if op.decommissioned then warn_decommissioned(op) end
  local batches, ids = batch.split(op, args)
  if batches then
    -- Every batch is built (and checked) before the first is sent.
    local requests = {}
    for i, part in ipairs(batches) do requests[i] = payload.build(op, part, name) end
    return batch.send(obj._client, requests, ids)
  end
  return obj._client:request(payload.build(op, args, name))
end

local function is_error(response)
  return response.transport_error ~= nil or (tonumber(response.status_code) or 500) >= 400
end
M.is_error = is_error

--- Turns an engine response into what the caller sees, for the object's mode and the call's
--- `expand_result` / `save_to` keywords (args: the call's keyword table, already checked by payload).
function M.shape(obj, response, args, op)
  if obj._pythonic and is_error(response) then
    error(APIError.from_response(response, op and op.id), 0)
  end
  if args and args.expand_result then
    return response.status_code, response.headers, response.body
  end
  if args and args.save_to then return response end
  local ok = not is_error(response)
  if ok and type(response.body) == "string" then return response.body end
  if obj._pythonic then return Result.new(response) end
  return response
end

--- One call: build, send, shape.
function M.call(obj, op, name, args)
  return M.shape(obj, M.send(obj, op, name, args), args, op)
end

---------------------------------------------------------------------------------------------
-- Methods every API object (service or Uber) shares
---------------------------------------------------------------------------------------------

local common = {}
M.common = common

--- Requests a token now. @treturn boolean
function common.login(self) return self._client:login() end
--- Revokes the token. @treturn boolean
function common.logout(self) return self._client:logout() end
--- True when the token is past (or within the renew window of) its expiry.
function common.token_expired(self) return self._client:token_expired() end

-- Read-only properties, computed on access (FalconPy exposes these as attributes).
local properties = {
  token_valid = function(self) return self._client:token_valid() end,
  base_url = function(self) return self._client:base_url() end,
  client = function(self) return self._client end,
  pythonic = function(self) return self._pythonic end,
}
M.properties = properties

---------------------------------------------------------------------------------------------
-- Service classes
---------------------------------------------------------------------------------------------

local classes = {}

local function make_method(class_name, op, name)
  return function(self, a1, a2)
    if type(self) ~= "table" or rawget(self, "_client") == nil then
      error(string.format("falcon: %s.%s: call it as a method, with a colon: obj:%s{...}", class_name, name, name), 0)
    end
    local args = payload.merge_positional(op, name, a1, a2)
    return M.call(self, op, name, args)
  end
end

--- The constructor table of a service class.
-- @tparam string class_name e.g. "MessageCenter", "Hosts"
-- @treturn table|nil callable constructor: `Class{ options }`
function M.class(class_name)
  local cached = classes[class_name]
  if cached then return cached end
  local cname = endpoints.classes[class_name]
  if not cname then return nil end
  local coll = endpoints.collection(cname)
  local methods = {}
  for k, f in pairs(common) do methods[k] = f end
  local mt = { __name = "falcon." .. class_name }

  --- Paged iteration: for page in obj:pages("query_cases", {...}) do ... end
  function methods.pages(self, opname, args, opts)
    local op = coll.by_id[opname] or coll.by_name[opname]
    if not op then error(string.format("falcon: %s:pages: unknown operation '%s'", class_name, tostring(opname)), 2) end
    return require("falcon.paginate").pages(self, op, opname, args, opts)
  end
  --- Item iteration across pages: for id in obj:each("query_cases", {...}) do ... end
  function methods.each(self, opname, args, opts)
    local op = coll.by_id[opname] or coll.by_name[opname]
    if not op then error(string.format("falcon: %s:each: unknown operation '%s'", class_name, tostring(opname)), 2) end
    return require("falcon.paginate").each(self, op, opname, args, opts)
  end

  mt.__index = function(self, key)
    local m = methods[key]
    if m then return m end
    local prop = properties[key]
    if prop then return prop(self) end
    if type(key) ~= "string" then return nil end
    local op = coll.by_id[key] or coll.by_name[key]
    if op then
      m = make_method(class_name, op, key)
      methods[key] = m
      return m
    end
    return nil
  end
  mt.__tostring = function(self)
    return string.format("falcon.%s(%s)", class_name, tostring(self._client:base_url()))
  end

  local ctor = setmetatable({
    name = class_name,
    collection = cname,
    --- Names of the operations of this class (Operation IDs).
    operations = function()
      local ids = {}
      for _, rec in ipairs(coll.list) do
        if coll.by_id[rec.id] == rec then ids[#ids + 1] = rec.id end
      end
      return ids
    end,
  }, {
    __call = function(_, opts)
      local obj = M.init_object(opts, class_name)
      return setmetatable(obj, mt)
    end,
    __tostring = function() return "falcon." .. class_name end,
  })
  ctor.new = function(opts) return ctor(opts) end
  classes[class_name] = ctor
  return ctor
end

return M
