--- The request engine: one place that turns a request value into a response table.
-- Auth policy (token on first use, renewal inside the window, one renewal after a 401), retries and
-- rate limits (falcon.base.policy), region autodiscovery, response decoding and the debug log live here.
-- Drivers (falcon.drivers) only move bytes; the C core keeps the secrets. Service classes and the Uber
-- class both call `Client:request`.
local compat = require "falcon.base.compat"
local core = require "falcon.core"
local driver = require "falcon.drivers"
local errors = require "falcon.base.errors"
local fleet = require "falcon.fleet"
local json = require "falcon.json"
local options = require "falcon.base.options"
local policy = require "falcon.base.policy"
local regions = require "falcon.base.regions"
local untrusted = require "falcon.base.untrusted"
local tokenshare = require "falcon.client.tokenshare"

local Client = {}
Client.__index = Client

-- The default logger, and the one place a library module writes to stderr: `debug = true` sends every
-- log line here, and without a `debug` function warnings come here too (Client:_warn).
local function stderr_logger(line)
  io.stderr:write("falcon: ", line, "\n")
end

--- Creates a client. See README.md for the options.
---@param opts table|nil
function Client.new(opts)
  opts = options.check(opts)
  local self = setmetatable({}, Client)
  self.renew_window = options.renew_window(opts)
  local connect, read, total = options.timeouts(opts)
  self.policy = policy.new(opts, total)
  self.region_overrides = regions.overrides(opts.regions)
  local url, region = regions.resolve(opts.base_url, self.region_overrides)
  self.region = region
  local verify, bundle = options.tls(opts)
  self.core = core.client {
    base_url = url,
    client_id = opts.client_id, client_secret = opts.client_secret,
    member_cid = opts.member_cid, access_token = opts.access_token,
    connect_timeout = connect, read_timeout = read, timeout = total,
    proxy = options.proxy(opts, url), ssl_verify = verify, ca_bundle = bundle,
    user_agent = opts.user_agent, max_body_bytes = opts.max_body_bytes,
  }
  -- A core client for another host of the same cloud (an Event Streams feed): this one's transport
  -- settings, no credentials (feeds carry their own session token).
  self._core_for = function(origin)
    return core.client {
      base_url = origin, access_token = "-", connect_timeout = connect, read_timeout = read,
      proxy = options.proxy(opts, origin), ssl_verify = verify, ca_bundle = bundle, user_agent = opts.user_agent,
    }
  end
  -- tokenshare (nginx's shared dict) and the fleet (Redis, luasocket or lua-resty-redis) are loaded only by
  -- the clients that ask for them: optional modules, with dependencies of their own.
  if opts.shared_dict then
    if opts.access_token then
      errors.bad_option(nil, "shared_dict", "a handed-in access_token is not renewed, so not shared")
    end
    local identity = (opts.client_id or os.getenv("FALCON_CLIENT_ID") or "") .. "/" .. (opts.member_cid or "")
    self.token_share = tokenshare.new(self.core, opts.shared_dict, self.renew_window, identity, self.policy.max_wait)
  end
  if opts.coordination then
    if opts.shared_dict then errors.bad_option(nil, "coordination", "give it or shared_dict, not both") end
    self.fleet = fleet.new(self, opts.coordination)
    self.token_share = self.fleet
  end
  if opts.debug == true then
    self.logger = stderr_logger
  elseif type(opts.debug) == "function" then
    self.logger = opts.debug
  end
  if verify == false then self:_warn("TLS certificate verification is off (ssl_verify = false)") end
  --- The last X-Ratelimit-Limit / X-Ratelimit-Remaining seen and when (`seen_at`: policy.pace ignores a
  --- reading older than the API's one-minute window), and until when a 429 paused the client.
  self.ratelimit = { limit = nil, remaining = nil, seen_at = nil, paused_until = 0 }
  self.random = math.random
  self.shared_token = opts.shared_dict ~= nil
  --- FalconPy's token_status / token_fail_reason: the last token request's HTTP status (201 on
  --- success) and, after a failure, why. nil until a token is first requested.
  self.token_status, self.token_fail_reason = nil, nil
  self.json_limits = core.json_limits(options.json_limits(opts))
  return self
end

function Client:base_url() return self.core:base_url() end

--- Points the client at another cloud or URL (`mc.base_url = "us-2"`). A token is bound to the cloud
--- that issued it, so the one held is dropped and the next call fetches one there.
function Client:set_base_url(value)
  if type(value) ~= "string" or value == "" then
    errors.raise(nil, "bad attribute 'base_url' (cloud name or URL string expected, got %s)", type(value))
  end
  local url, region = regions.resolve(value, self.region_overrides)
  if url ~= self.core:base_url() and not self.core:token_info().has_credentials and self.core:token_info().has_token then
    errors.raise(nil, "bad attribute 'base_url' (this client uses a handed-in access_token, which belongs to %s; "
      .. "create a new client for another cloud)", self.core:base_url())
  end
  if url ~= self.core:base_url() then
    self.core:set_base_url(url)
    if self.core:token_info().has_credentials then self.core:forget_token() end
  end
  self.region = region
end

--- MSSP: act on a child CID (`member_cid`), or on the parent again (nil). The token held is dropped.
function Client:set_member_cid(member_cid)
  if self.shared_token then
    errors.raise("child_login", "not with shared_dict (the workers share one token, for one tenant)")
  end
  if not self.core:token_info().has_credentials then
    errors.raise("child_login", "needs client_id and client_secret (a handed-in access_token names its own tenant)")
  end
  self.core:set_member_cid(member_cid)
end

function Client:set_renew_window(seconds)
  if type(seconds) ~= "number" then
    errors.raise(nil, "bad attribute 'renew_window' (seconds expected, got %s)", type(seconds))
  end
  self.renew_window = options.renew_window { renew_window = seconds }
end

--- True while a token is held that is not inside the renew window.
function Client:token_valid()
  return self.core:token_fresh(self.renew_window)
end

function Client:token_expired() return not self:token_valid() end

-- The one builder of a failed exchange's response: FalconPy's shape, status 500, and the transport error
-- (always a falcon.core.error object, whether the core or the engine found the failure).
local function transport_response(err)
  return {
    status_code = 500,
    headers = {},
    body = { meta = {}, resources = {}, errors = { { code = 500, message = err.message } } },
    transport_error = err,
  }
end

local function is_json(headers)
  local ct = headers["Content-Type"]
  return ct ~= nil and (ct:find("json", 1, true) ~= nil or ct:lower():find("json", 1, true) ~= nil)
end

-- Token and revoke answers: JSON bodies become tables; a body that is not JSON (or not valid JSON) stays a
-- string (their status decides: a token failure is an error already, a revoke is confirmed by its 200).
-- API answers are decoded by the C core as they arrive, where a 2xx that says JSON and is not is an error
-- (csrc/json_body.h).
local function decode_body(headers, body)
  if body == nil then return nil end
  if body ~= "" and is_json(headers) then
    local ok, decoded = pcall(json.decode, body)
    if ok then return decoded end
  end
  return body
end

local LOG_FIELDS = { "method", "route", "status", "duration", "trace_id", "retries", "error" }

-- The one place log lines are formatted: string values (a trace id is the server's, a route may be)
-- are escaped, in the line and in the fields the logger gets, so no control character reaches a log raw.
function Client:_log(fields)
  if not self.logger then return end
  local parts = {}
  for _, key in ipairs(LOG_FIELDS) do
    local v = fields[key]
    if type(v) == "string" then
      v = untrusted.printable(v, true)
      fields[key] = v
    end
    if key == "duration" and v then v = ("%.3fs"):format(v) end
    if v ~= nil then parts[#parts + 1] = key .. "=" .. tostring(v) end
  end
  self.logger(table.concat(parts, " "), fields)
end

-- Waits while a 429 has paused this client, or while the remaining budget is low (every task of the
-- client shares the state, so one 429 pauses them all). Returns the time after the wait. A fleet
-- (falcon.fleet) paces by the budget it shares instead, and may refuse: nil and the error then.
function Client:_pace(d, kind, now)
  if self.fleet then return self.fleet:take(d, self.ratelimit, self.policy.max_wait, kind == "token") end
  local wait = policy.wait_before(self.policy, self.ratelimit, now)
  if wait > 0 then
    d.sleep(wait)
    now = d.now()
  end
  return now
end

--- The library's one way to say something nobody asked for: a warning goes to the client's logger (the
--- `debug` function, or stderr with `debug = true`), else to the default logger, which prints warnings
--- on stderr. Library modules never write to stderr themselves.
function Client:_warn(line)
  local logger = self.logger or stderr_logger
  logger("warning: " .. line, { warning = line })
end

local warned = {}

--- A warning given once per process for `key` (a decommissioned operation is one warning, however many
--- objects call it).
function Client:_warn_once(key, line)
  if warned[key] then return end
  warned[key] = true
  self:_warn(line)
end

-- One exchange of `kind` ("api", "token", "revoke") through the driver, retrying as falcon.base.policy says.
-- `send(core, kind, request)` returns the driver's values: d.exchange itself on the per-call path (no
-- closure per call), or a token share's own. Every API call comes through here: what is not needed
-- (pacing on a good budget, a retry decision on a plain answer) is not called.
function Client:_send(d, method, route, send, kind, request)
  local idempotent = request and request.repeatable -- the builder's word (falcon.payload), when it has one
  if idempotent == nil then idempotent = policy.idempotent(method, route) end
  -- The core sends a request twice (a kept-alive connection that died) only when it is safe to.
  if request then request.repeatable = idempotent end
  local ratelimit, attempt = self.ratelimit, 0
  while true do
    local started = d.now()
    if self.fleet or ratelimit.low or ratelimit.paused_until > started then
      local refused
      started, refused = self:_pace(d, kind, started)
      if not started then return nil, refused, nil, nil, attempt, 0 end
    end
    local status, headers, body, info = send(self.core, kind, request)
    local now = d.now()
    if status then policy.track(ratelimit, headers, now) end
    local wait
    if status == nil or policy.RETRIED[status] then
      -- A 429 seen by one process of a fleet pauses them all, until the time the API named.
      if status == 429 and self.fleet then self.fleet:pause(d, policy.retry_after(headers, now) or 1) end
      wait = policy.retry_wait(self.policy, idempotent, attempt, status, headers, now, self.random)
    end
    if wait == nil then return status, headers, body, info, attempt, now - started end
    if status == 429 then ratelimit.paused_until = math.max(ratelimit.paused_until, now + wait) end
    self:_log { method = method, route = route, status = status, error = status == nil and headers.kind or nil,
                duration = now - started, retries = attempt, trace_id = status and headers["X-Cs-Traceid"] or nil,
                retry_in = wait }
    attempt = attempt + 1
    if status ~= 429 then d.sleep(wait) end -- a 429's pause is taken by _pace, with every other task
  end
end

function Client:_finish_log(method, route, status, headers, retries, duration)
  if not self.logger then return end
  if status == nil then
    self:_log { method = method, route = route, error = headers.kind, retries = retries, duration = duration }
  else
    self:_log { method = method, route = route, status = status, duration = duration,
                trace_id = headers["X-Cs-Traceid"], retries = retries }
  end
end

--- Fetches a token now. Returns FalconPy's boolean first, then (on failure) the answer that explains it,
--- in the shape of every failed exchange: `{status_code, headers, body}` with `token_error` (or
--- `transport_error`). Never raises, in Result mode too: a failed exchange is returned, and FalconPy's
--- login() answers with a boolean. (On success there is no answer to return: the token stays in C.)
function Client:login()
  local d = driver.current()
  local share = self.token_share
  local status, headers, body, _, retries, duration = self:_send(d, "POST", "/oauth2/token",
    share and function() return share:authenticate(d) end or d.exchange, "token")
  self:_finish_log("POST", "/oauth2/token", status, headers, retries, duration)
  local token_url = self.core:base_url() .. "/oauth2/token"
  if status == nil then
    self.token_status, self.token_fail_reason = nil, headers.message
    local failure = transport_response(headers)
    failure.body.errors[1].message = "token request to " .. token_url .. " failed: " .. headers.message
    failure.token_error = { url = token_url, reason = headers.message }
    return false, failure
  end
  self.token_status = status
  if body == nil then -- the C core kept the token: only success leaves no body
    self.token_fail_reason = nil
    self.token_region = headers["X-Cs-Region"]
    local url, region = regions.discover(self.region, headers["X-Cs-Region"], self.region_overrides)
    if url then
      self.core:set_base_url(url)
      self.region = region
    end
    return true
  end
  local failure = errors.token_failure(token_url, status, headers, decode_body(headers, body),
    self.core:token_info().has_member_cid)
  self.token_fail_reason = failure.token_error.reason
  return false, failure
end

--- Revokes the token held. Returns true when the API confirmed it, then the answer (login's shape).
function Client:logout()
  local d = driver.current()
  local status, headers, body, _, retries, duration = self:_send(d, "POST", "/oauth2/revoke", d.exchange, "revoke")
  self:_finish_log("POST", "/oauth2/revoke", status, headers, retries, duration)
  if status == nil then return false, transport_response(headers) end
  return status == 200, { status_code = status, headers = headers, body = decode_body(headers, body) }
end

-- A token is fetched on first use and renewed inside the renew window; a handed-in token is used as is.
-- Concurrent tasks that find the token due wait in the driver's queue for the one renewal under way
-- (woken when it ends, never polling, and never past max_retry_wait and the call's timeout); if it failed
-- or took longer, the next of them tries again. A renewal under another driver (a scheduler that ended
-- with it in flight, or a nested one) cannot wake this caller: it is not waited for, and this caller
-- renews by itself.
function Client:_ensure_token(d)
  local renewal = self.renewal
  if renewal and renewal.driver == d then renewal.queue.wait(d.now() + self.policy.max_wait) end
  if self.core:token_fresh(self.renew_window) then return true end
  local info = self.core:token_info()
  if not info.has_credentials then
    if info.has_token then return true end
    return false, transport_response(errors.core_error("auth", "no credentials: give client_id and client_secret "
      .. "(or FALCON_CLIENT_ID and FALCON_CLIENT_SECRET), or an access_token", false))
  end
  return self:_renew(d)
end

function Client:_renew(d)
  local renewal = { queue = d.queue(), driver = d }
  self.renewal = renewal
  local ok, result, failure = compat.pcall(self.login, self) -- login may yield (parallel)
  if self.renewal == renewal then self.renewal = nil end
  renewal.queue.release()
  if not ok then error(result, 0) end
  return result, failure
end

--- Sends one API request: {method, route, query, headers, body, content_type, form, save_to, progress,
--- binary, auth}. Returns {status_code, headers, body} (body decoded from JSON when it is JSON).
function Client:request(req)
  local d = driver.current()
  local authenticated = req.auth ~= "none"
  -- _ensure_token's own first answer, without the call: no renewal under way and a fresh token held
  if authenticated and (self.renewal or not self.core:token_fresh(self.renew_window)) then
    local ok, failure = self:_ensure_token(d)
    if not ok then return failure end
  end
  -- The request table goes to the driver as it is: the C core reads the fields it knows. With `json`,
  -- a JSON answer is decoded as it arrives (a limit broken, or a 2xx that is not JSON, is an error).
  req.json = self.json_limits
  local status, headers, body, info, retries, duration = self:_send(d, req.method, req.route, d.exchange, "api", req)
  -- One renewal and one more try after a 401 (expired or revoked token), never a loop.
  if status == 401 and authenticated and self.core:token_info().has_credentials then
    self:_finish_log(req.method, req.route, status, headers, retries, duration)
    self.core:forget_token()
    local ok, failure = self:_ensure_token(d)
    if not ok then return failure end
    local more
    status, headers, body, info, more, duration = self:_send(d, req.method, req.route, d.exchange, "api", req)
    retries = retries + more + 1
  end
  if self.logger then self:_finish_log(req.method, req.route, status, headers, retries, duration) end
  if status == nil then return transport_response(headers) end
  local response = { status_code = status, headers = headers, body = body }
  if info then response.saved_to, response.saved_bytes = info.saved_to, info.saved_bytes end
  -- A token the API refuses right after it was issued, from a cloud other than the one answering: the
  -- API client lives elsewhere and the URL was given by hand (a cloud name would have followed it).
  if status == 401 and authenticated and self.token_region and headers["X-Cs-Region"]
      and self.token_region ~= headers["X-Cs-Region"] then
    errors.advise(response, ("wrong region: the token endpoint places this API client in %s, but %s answers "
      .. "as %s; set base_url = \"%s\" (or that cloud's URL)"):format(self.token_region, self.core:base_url(),
      headers["X-Cs-Region"], self.token_region))
  end
  return response
end

function Client:close()
  if self.fleet then self.fleet:close() end
  self.core:close()
end

function Client:__tostring()
  return ("falcon.Client (%s, region %s, token %s)"):format(self.core:base_url(), self.region or "custom",
    self:token_valid() and "valid" or "not held")
end

Client.__close = Client.close

return Client
