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
local fail = require("falcon.payload_check").fail
local copy = require("falcon.util").copy
local Result = require "falcon.result"
local APIError = require "falcon.errors"

local M = {}

-- Options that belong to the SDK layer, not to the engine.
local layer_options = { pythonic = true, auth_object = true, ext_headers = true }

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
  local ext = opts.ext_headers ~= nil and require("falcon.options").ext_headers(opts.ext_headers) or nil
  return { _client = client, _pythonic = pythonic == true, _ext_headers = ext and next(ext) and ext or nil }
end

-- The request with the object's ext_headers under the call's own headers (which win).
local function with_ext_headers(obj, request)
  local ext = rawget(obj, "_ext_headers")
  if not ext then return request end
  local with = copy(request)
  with.headers = copy(ext)
  for k, v in pairs(request.headers or {}) do with.headers[k] = v end
  return with
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
-- `extra`: what the Uber forms add (falcon.uber.keywords), for payload.build.
function M.send(obj, op, name, args, extra)
  if op.decommissioned then warn_decommissioned(op) end
  local batches, ids = batch.split(op, args)
  if batches then
    -- Every batch is built (and checked) before the first is sent.
    local requests = {}
    for i, part in ipairs(batches) do requests[i] = with_ext_headers(obj, payload.build(op, part, name, extra)) end
    return M.advise(op, batch.send(obj._client, requests, ids))
  end
  return M.advise(op, obj._client:request(with_ext_headers(obj, payload.build(op, args, name, extra))))
end

--- What a new user can do about a refused call, added to the answer (falcon.errors.advise): a 403 with a
--- token the API accepted is a missing scope; a 404 from a lookup is an id that is not there.
function M.advise(op, response)
  local status = response.status_code
  if response.token_error or response.transport_error or response.advice then return response end
  if status == 403 then
    local scope = "the scope this operation needs"
    if op.collection == "message_center" then
      scope = require("falcon.policy").idempotent(op.method, op.route) and "message-center:read"
        or "message-center:write"
    end
    APIError.advise(response, ("the token was accepted but does not allow %s (%s %s): give the API client %s "
      .. "in the Falcon console (API clients and keys)"):format(op.id, op.method, op.route, scope))
  elseif status == 404 and not op.synthetic then
    APIError.advise(response, ("%s found nothing under the id(s) given: check them (the query operations list "
      .. "the ids that exist in this tenant)"):format(op.id))
  end
  return response
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
function M.call(obj, op, name, args, extra)
  return M.shape(obj, M.send(obj, op, name, args, extra), args, op)
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

-- FalconPy requests a token when an object is created, so its token_status is set from the start;
-- falconlua requests it on first use. Asking about the token before any was requested requests one.
local function login_once(self)
  local client = self._client
  if client.token_status == nil and not client.core:token_info().has_token then client:login() end
  return client
end

--- FalconPy's authenticated(): true while a valid token is held (requests one if none was yet).
function common.authenticated(self) return login_once(self):token_valid() end

--- MSSP: act on a child CID from now on (a new token names it). Returns true when that token came.
function common.child_login(self, member_cid)
  if type(member_cid) ~= "string" or member_cid == "" then
    error("falcon: child_login: bad argument 'member_cid' (non-empty string expected, got "
      .. (member_cid == "" and "empty string" or type(member_cid)) .. ")", 2)
  end
  self._client:set_member_cid(member_cid)
  return (self._client:login())
end

--- MSSP: back to the parent tenant; with login_as_parent = false, revoke the child token and stay
--- logged out. Returns true when the login (or revoke) succeeded.
function common.child_logout(self, login_as_parent)
  if login_as_parent ~= nil and type(login_as_parent) ~= "boolean" then
    error("falcon: child_logout: bad argument 'login_as_parent' (boolean expected, got " .. type(login_as_parent) .. ")", 2)
  end
  if login_as_parent == false then
    local ok = self._client:logout()
    self._client:set_member_cid(nil)
    return ok
  end
  self._client:set_member_cid(nil)
  return (self._client:login())
end

--- FalconPy's service-class override(method, route, {parameters, body, data, files, expand_result}):
--- any route, with the keywords the Uber class's override takes.
function common.override(self, method, route, args)
  if type(method) ~= "string" then fail("override", "method", "HTTP method string expected, got " .. type(method)) end
  if type(route) ~= "string" then fail("override", "route", "route string expected, got " .. type(route)) end
  if args ~= nil and type(args) ~= "table" then fail("override", "args", "table expected, got " .. type(args)) end
  local uber = require "falcon.uber"
  local op = uber.override_op(method .. "," .. route, "override")
  local keywords, extra = uber.keywords(op, args or {}, "override")
  return M.call(self, op, "override", keywords, extra)
end

--- Lua 5.4 `local mc <close> = falcon.MessageCenter{...}` revokes the token at the end of the block,
--- as FalconPy's `with` does (only a token this object's credentials fetched; a handed-in one is kept).
function M.close_object(self)
  local client = self._client
  local info = client.core:token_info()
  if info.has_token and info.has_credentials then client:logout() end
end

-- FalconPy attributes that would hand out the token or the secret: refused with the reason.
local SECRET_HELD = "the bearer token and the client secret live in the C core and never reach Lua"
local refused_reads = {
  auth_headers = SECRET_HELD .. "; falconlua adds the Authorization header itself (ext_headers adds others)",
  headers = SECRET_HELD .. " (FalconPy's headers include the Authorization header); ext_headers adds headers",
  token = SECRET_HELD .. "; token_valid, token_status and authenticated() say whether one is held",
  token_value = SECRET_HELD .. "; token_valid, token_status and authenticated() say whether one is held",
  bearer_token = SECRET_HELD .. "; token_valid, token_status and authenticated() say whether one is held",
  creds = SECRET_HELD .. "; they are given once, at construction (creds = {...} or client_id/client_secret)",
  debug_record_count = "falconlua's debug log writes no response records, so there is no count to read or set",
}
M.refused_reads = refused_reads

-- Read-only properties, computed on access (FalconPy exposes these as attributes).
local properties = {
  token_valid = function(self) return self._client:token_valid() end,
  token_stale = function(self) return self._client:token_expired() end,
  token_status = function(self) return login_once(self).token_status end,
  token_fail_reason = function(self) return login_once(self).token_fail_reason end,
  base_url = function(self) return self._client:base_url() end,
  client = function(self) return self._client end,
  pythonic = function(self) return self._pythonic end,
  renew_window = function(self) return self._client.renew_window end,
  ext_headers = function(self) return copy(rawget(self, "_ext_headers")) end,
}
M.properties = properties

-- Attributes FalconPy lets a user set: the ones that take effect here, and the ones refused with why.
local setters = {
  base_url = function(self, v) self._client:set_base_url(v) end,
  pythonic = function(self, v)
    if type(v) ~= "boolean" then error("falcon: bad attribute 'pythonic' (boolean expected, got " .. type(v) .. ")", 0) end
    rawset(self, "_pythonic", v)
  end,
  renew_window = function(self, v) self._client:set_renew_window(v) end,
  token_renew_window = function(self, v) self._client:set_renew_window(v) end,
  ext_headers = function(self, v)
    local ext = require("falcon.options").ext_headers(v)
    rawset(self, "_ext_headers", next(ext) and ext or nil)
  end,
}
local CONNECTION = "is a connection setting held by the C core from construction; create a new client with it"
local refused_writes = {
  ssl_verify = CONNECTION, ca_bundle = CONNECTION, proxy = CONNECTION, timeout = CONNECTION,
  user_agent = CONNECTION, connect_timeout = CONNECTION, read_timeout = CONNECTION,
  sanitize_log = "is always on: secrets never reach a log line in falconlua",
  validate_payloads = "is always on: every argument is checked before anything is sent",
  debug = "is set at construction (debug = true or a function)",
  token_valid = "is read-only (login() and logout() change it)",
  token_status = "is read-only (login() sets it)",
  token_fail_reason = "is read-only (login() sets it)",
}

--- __index / __newindex for service and Uber objects: methods, properties, refusals; `lookup(key)` finds
--- what else the object has (a service class's operations).
function M.accessors(methods, lookup)
  local function index(self, key)
    local m = methods[key]
    if m then return m end
    local prop = properties[key]
    if prop then return prop(self) end
    if refused_reads[key] then error(("falcon: '%s' is not available: %s"):format(key, refused_reads[key]), 0) end
    return lookup and lookup(key) or nil
  end
  local function newindex(self, key, value)
    local set = setters[key]
    if set then return set(self, value) end
    if refused_writes[key] then error(("falcon: cannot set '%s': it %s"):format(key, refused_writes[key]), 0) end
    if refused_reads[key] then error(("falcon: cannot set '%s': %s"):format(key, refused_reads[key]), 0) end
    error(("falcon: cannot set '%s' on %s (settable: base_url, pythonic, renew_window, ext_headers)")
      :format(tostring(key), tostring(getmetatable(self).__name)), 0)
  end
  return index, newindex
end

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

  mt.__index, mt.__newindex = M.accessors(methods, function(key)
    if type(key) ~= "string" then return nil end
    local op = coll.by_id[key] or coll.by_name[key]
    if op then
      local m = make_method(class_name, op, key)
      methods[key] = m
      return m
    end
    return nil
  end)
  mt.__close = M.close_object
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
