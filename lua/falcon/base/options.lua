--- Options tables, validated at the door: the client's own (options.check), and the one check of
--- unknown keys every options table of the SDK goes through (options.check_keys).
local errors = require "falcon.base.errors"

local options = {}

--- Every option a client accepts, with the Lua types allowed.
options.schema = {
  client_id = "string", client_secret = "string", member_cid = "string", access_token = "string",
  base_url = "string", regions = "table",
  ssl_verify = "boolean|string", ca_bundle = "string", proxy = "string|table",
  timeout = "number|table", connect_timeout = "number", read_timeout = "number",
  user_agent = "string", renew_window = "number", max_body_bytes = "number",
  pythonic = "boolean", auth_object = "table|userdata",
  debug = "boolean|function",
  -- inside nginx: a lua_shared_dict through which the workers share one token (falcon.client.tokenshare)
  shared_dict = "string",
  -- a fleet of processes sharing one token and one rate budget through Redis (falcon.fleet)
  coordination = "table",
  -- retries and rate limits (falcon.base.policy)
  max_retries = "number", max_retry_wait = "number", retry_backoff = "number", retry_backoff_max = "number",
  -- FalconPy's spelling of the credentials: creds = {client_id, client_secret, member_cid}
  creds = "table",
  -- FalconPy switches that are always on here: accepted when true, refused (with the reason) when false
  sanitize_log = "boolean", validate_payloads = "boolean",
  -- bounds on a JSON answer, decoded as it arrives (csrc/json_decode.c)
  json_max_depth = "number", json_max_size = "number", json_max_string = "number",
}

-- FalconPy options falconlua does not take, and why: named in the error instead of "unknown option".
options.refused = {
  debug_record_count = "falconlua's debug log never writes response records (one line per call: method, "
    .. "route, status, duration, trace id, retries), so there is no record count to limit",
  environment = "falconlua reads FALCON_CLIENT_ID / FALCON_CLIENT_SECRET when client_id and client_secret "
    .. "are not given; for other variable names pass client_id = os.getenv(...), client_secret = os.getenv(...)",
  auth_headers = "the bearer token never reaches Lua (it lives in the C core), so there are no auth headers "
    .. "to hand in or read; pass access_token to use a token you hold",
}

--- The keys a service or Uber constructor takes: the client's, the object's own `ext_headers`, and the
--- refused ones (the client names why).
options.object_keys = { ext_headers = "table" }
for key, spec in pairs(options.schema) do options.object_keys[key] = spec end
for key in pairs(options.refused) do options.object_keys[key] = "refused" end

options.always_on = {
  sanitize_log = "secrets and tokens never reach a log line, an error or tostring() in falconlua; "
    .. "sanitize_log = false cannot be honoured",
  validate_payloads = "falconlua checks every argument before anything is sent (that is how bad input "
    .. "never reaches the wire); validate_payloads = false cannot be honoured",
}

-- FalconPy clamps renew_window to 120..1200 seconds; so do we.
options.RENEW_DEFAULT, options.RENEW_MIN, options.RENEW_MAX = 120, 120, 1200

local function fail(key, expected, got)
  errors.bad_option(nil, key, ("%s expected, got %s"):format(expected, got))
end

--- The one check of an options table's keys, for every function of the SDK that takes one: nil is an
--- empty table, anything but a table is refused, and a key not in `known` is refused naming it (with
--- `prefix`, e.g. "coordination.", for a nested table) and the nearest known names.
---@param where string|nil the function, for the message (nil: the client's own options)
---@param opts table|nil
---@param known table<string, any> the accepted keys
---@param prefix? string
---@return table opts
function options.check_keys(where, opts, known, prefix)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    errors.bad_argument(where, prefix and prefix:sub(1, -2) or "options", "table expected, got " .. type(opts))
  end
  for key in pairs(opts) do
    if type(key) ~= "string" or known[key] == nil then
      errors.unknown_option(where, (prefix or "") .. tostring(key), known)
    end
  end
  return opts
end

-- String options end up in the token request, in headers (User-Agent, Authorization) or in the URL:
-- control characters there are never legitimate (a pasted secret with a trailing newline is the common
-- case), and a header-sized bound keeps a runaway value from becoming a request the API refuses.
options.MAX_STRING = 8192
local strings = {
  client_id = "nonempty", client_secret = "nonempty", member_cid = "nonempty", access_token = "nonempty",
  base_url = "nonempty", ca_bundle = "nonempty", user_agent = "any", proxy = "any", ssl_verify = "nonempty",
  shared_dict = "nonempty",
}

local function check_string(key, value)
  local rule = strings[key]
  if not rule then return end
  if rule == "nonempty" and value == "" then fail(key, "non-empty string", "empty string") end
  if #value > options.MAX_STRING then
    fail(key, "string of at most " .. options.MAX_STRING .. " bytes", #value .. " bytes")
  end
  -- Other control bytes in a secret survive form encoding (the C core allows them); CR, LF, NUL never do.
  local bad
  if key == "client_secret" then bad = value:find("[\r\n%z]") else bad = value:find("%c") end
  if bad then
    fail(key, "string without control characters", ("control character \\%d at byte %d"):format(value:byte(bad), bad))
  end
end

local function type_allowed(spec, value)
  local t = type(value)
  for allowed in spec:gmatch("[^|]+") do if allowed == t then return true end end
  return false
end

--- Checks a client's options against the schema.
---@param opts table|nil
---@return table opts a shallow copy
function options.check(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then fail("options", "table", type(opts)) end
  for key in pairs(opts) do
    if options.refused[key] then errors.raise(nil, "option '%s' is not supported: %s", key, options.refused[key]) end
  end
  options.check_keys(nil, opts, options.schema)
  local copy = {}
  for key, value in pairs(opts) do
    local spec = options.schema[key]
    if not type_allowed(spec, value) then fail(key, spec:gsub("|", " or "), type(value)) end
    if type(value) == "string" then check_string(key, value) end
    copy[key] = value
  end
  if copy.sanitize_log == false or copy.validate_payloads == false then
    local key = copy.sanitize_log == false and "sanitize_log" or "validate_payloads"
    errors.raise(nil, "bad option '%s': %s", key, options.always_on[key])
  end
  copy.sanitize_log, copy.validate_payloads = nil, nil
  if copy.creds then options.merge_creds(copy) end
  -- One without the other would silently fall back to nothing (or to the environment's pair).
  if (copy.client_id == nil) ~= (copy.client_secret == nil) then
    local missing = copy.client_id == nil and "client_id" or "client_secret"
    fail(missing, "string (client_id and client_secret go together)", "nil")
  end
  return copy
end

local CREDS_KEYS = { client_id = true, client_secret = true, member_cid = true }
local CREDS_ORDER = { "client_id", "client_secret", "member_cid" }

--- FalconPy's `creds = {client_id, client_secret, member_cid}`, folded into the plain options (it and
--- client_id/client_secret are alternatives, as in FalconPy).
function options.merge_creds(opts)
  local creds = opts.creds
  opts.creds = nil
  for key in pairs(creds) do
    if not CREDS_KEYS[key] then
      fail("creds", "table with client_id, client_secret and member_cid", "key '" .. tostring(key) .. "'")
    end
  end
  for _, key in ipairs(CREDS_ORDER) do
    local value = creds[key]
    if value ~= nil then
      if type(value) ~= "string" then fail("creds." .. key, "string", type(value)) end
      if opts[key] ~= nil then fail("creds", "creds or " .. key .. " (not both)", "both") end
      check_string(key, value)
      opts[key] = value
    end
  end
end

--- A service or Uber object's `ext_headers`: extra headers for each of its API calls (not the token
--- request). A call's own headers win.
function options.ext_headers(headers)
  if type(headers) ~= "table" then fail("ext_headers", "table of header names and values", type(headers)) end
  local out = {}
  for name, value in pairs(headers) do
    if type(name) ~= "string" or not name:match("^[%w%-_]+$") then
      fail("ext_headers", "header names of letters, digits, '-' and '_'", tostring(name))
    end
    if name:lower() == "authorization" then
      errors.bad_option(nil, "ext_headers", "Authorization belongs to the engine: the token never reaches Lua; "
        .. "pass access_token to use a token you hold")
    end
    if type(value) == "number" then value = tostring(value) end
    if type(value) ~= "string" then fail("ext_headers." .. name, "string", type(value)) end
    if value:find("[\r\n%z]") or #value > options.MAX_STRING then
      fail("ext_headers." .. name, "string without CR, LF or NUL, at most " .. options.MAX_STRING .. " bytes",
        "another value")
    end
    out[name] = value
  end
  return out
end

--- FalconPy's `timeout`: a number (whole transfer, seconds) or {connect, read}.
---@return number|nil connect, number|nil read, number|nil total
function options.timeouts(opts)
  local connect, read, total = opts.connect_timeout, opts.read_timeout, nil
  local t = opts.timeout
  if type(t) == "number" then
    total = t
  elseif type(t) == "table" then
    if type(t[1]) ~= "number" or type(t[2]) ~= "number" then
      fail("timeout", "seconds or {connect_seconds, read_seconds}", "a table without two numbers")
    end
    connect, read = connect or t[1], read or t[2]
  end
  for key, v in pairs({ timeout = total, connect_timeout = connect, read_timeout = read }) do
    if v ~= v or v < 0 or v == math.huge then fail(key, "a finite number of seconds >= 0", tostring(v)) end
  end
  if connect == 0 then fail("connect_timeout", "a positive number of seconds", "0") end
  return connect, read, total
end

--- FalconPy's `proxy` is a dict {https = url, http = url}; a plain URL string is accepted too.
function options.proxy(opts, base_url)
  local p = opts.proxy
  if type(p) == "table" then
    local scheme = base_url:match("^(https?)://")
    p = p[scheme] or p.https or p.http
    if p ~= nil and type(p) ~= "string" then fail("proxy", "URL string or {https = url}", type(p)) end
  end
  return p
end

--- requests' `verify` accepts a CA bundle path in place of a boolean; FalconPy passes it through.
function options.tls(opts)
  local verify, bundle = opts.ssl_verify, opts.ca_bundle
  if type(verify) == "string" then verify, bundle = true, bundle or verify end
  if verify == nil then verify = true end
  return verify, bundle
end

--- The limits of JSON decoding ({max_depth, max_size, max_string}; nil: the C core's defaults).
function options.json_limits(opts)
  local limits = {}
  for _, name in ipairs { "max_depth", "max_size", "max_string" } do
    local v = opts["json_" .. name]
    if v ~= nil and (v ~= math.floor(v) or v < 1 or v > 2 ^ 53) then
      fail("json_" .. name, "positive integer", tostring(v))
    end
    limits[name] = v
  end
  return limits
end

function options.renew_window(opts)
  local w = opts.renew_window
  if w == nil then return options.RENEW_DEFAULT end
  if w ~= w then fail("renew_window", "seconds", "NaN") end
  return math.max(options.RENEW_MIN, math.min(options.RENEW_MAX, w))
end

return options
