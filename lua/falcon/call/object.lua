--- What every API object has, service or Uber: its engine client (its own, or another object's), its
--- mode (`pythonic`), its ext_headers, the methods FalconPy's objects share (login, logout, override,
--- the MSSP child_login/child_logout ...), the attributes it exposes (token_valid, base_url, ...) and
--- the ones it refuses with the reason (the token and the secret never reach Lua). falcon.classes.service builds
--- the service classes on it, falcon.classes.uber the Uber class; their calls go through falcon.call.
local call = require "falcon.call"
local Client = require "falcon.client"
local copy = require("falcon.base.util").copy
local errors = require "falcon.base.errors"
local forms = require "falcon.call.forms"
local options = require "falcon.base.options"

local fail = errors.bad_argument

local M = {}

-- Options that belong to the SDK layer, not to the engine.
local layer_options = { pythonic = true, auth_object = true, ext_headers = true }

--- Shared by service and Uber objects: builds the engine client (or borrows another's).
-- @tparam table opts constructor options
-- @tparam string what class name, for messages
-- @treturn table the fields every API object has: _client, _pythonic
function M.init(opts, what)
  opts = options.check_keys(what, opts, options.object_keys)
  local pythonic = opts.pythonic
  if pythonic ~= nil and type(pythonic) ~= "boolean" then
    errors.bad_argument(what, "pythonic", "boolean expected, got " .. type(pythonic))
  end
  local client
  local auth = opts.auth_object
  if auth ~= nil then
    if type(auth) ~= "table" then
      errors.bad_argument(what, "auth_object", "service, Uber or client object expected, got " .. type(auth))
    end
    client = rawget(auth, "_client") or auth
    if type(client.request) ~= "function" then
      errors.bad_argument(what, "auth_object", "service, Uber or client object expected")
    end
    for k in pairs(opts) do
      if not layer_options[k] then
        errors.bad_argument(what, k, "not accepted with auth_object: the shared client keeps its own settings")
      end
    end
  else
    local engine_opts = {}
    for k, v in pairs(opts) do
      if not layer_options[k] then engine_opts[k] = v end
    end
    client = Client.new(engine_opts)
  end
  local ext = opts.ext_headers ~= nil and options.ext_headers(opts.ext_headers) or nil
  return { _client = client, _pythonic = pythonic == true, _ext_headers = ext and next(ext) and ext or nil }
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
    errors.bad_argument("child_login", "member_cid", "non-empty string expected, got "
      .. (member_cid == "" and "empty string" or type(member_cid)))
  end
  self._client:set_member_cid(member_cid)
  return (self._client:login())
end

--- MSSP: back to the parent tenant; with login_as_parent = false, revoke the child token and stay
--- logged out. Returns true when the login (or revoke) succeeded.
function common.child_logout(self, login_as_parent)
  if login_as_parent ~= nil and type(login_as_parent) ~= "boolean" then
    errors.bad_argument("child_logout", "login_as_parent", "boolean expected, got " .. type(login_as_parent))
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
  local op = forms.override_op(method .. "," .. route, "override")
  local kw, extra = forms.keywords(op, args or {}, "override")
  return call.invoke(self, op, "override", kw, extra)
end

--- Lua 5.4 `local mc <close> = falcon.MessageCenter{...}` revokes the token at the end of the block,
--- as FalconPy's `with` does (only a token this object's credentials fetched; a handed-in one is kept).
function M.close(self)
  local client = self._client
  local info = client.core:token_info()
  if info.has_token and info.has_credentials then client:logout() end
end

-- FalconPy attributes that would hand out the token or the secret: refused with the reason.
local SECRET_HELD = "the bearer token and the client secret live in the C core and never reach Lua"
local refused_reads = {
  auth_headers = SECRET_HELD .. "; falconlua adds the Authorization header itself (ext_headers adds others)",
  headers = SECRET_HELD .. " (FalconPy's headers include the Authorization header); ext_headers adds headers",
  token = SECRET_HELD .. "; login() fetches one (OAuth2's token()), and token_valid, token_status and "
    .. "authenticated() say whether one is held",
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
    if type(v) ~= "boolean" then errors.raise(nil, "bad attribute 'pythonic' (boolean expected, got %s)", type(v)) end
    rawset(self, "_pythonic", v)
  end,
  renew_window = function(self, v) self._client:set_renew_window(v) end,
  token_renew_window = function(self, v) self._client:set_renew_window(v) end,
  ext_headers = function(self, v)
    local ext = options.ext_headers(v)
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
    if refused_reads[key] then errors.raise(nil, "'%s' is not available: %s", key, refused_reads[key]) end
    return lookup and lookup(key) or nil
  end
  local function newindex(self, key, value)
    local set = setters[key]
    if set then return set(self, value) end
    if refused_writes[key] then errors.raise(nil, "cannot set '%s': it %s", key, refused_writes[key]) end
    if refused_reads[key] then errors.raise(nil, "cannot set '%s': %s", key, refused_reads[key]) end
    errors.raise(nil, "cannot set '%s' on %s (settable: base_url, pythonic, renew_window, ext_headers)",
      tostring(key), tostring(getmetatable(self).__name))
  end
  return index, newindex
end

return M
