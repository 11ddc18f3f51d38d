--- The request engine: one place that turns a request value into a response table.
-- Auth policy (token on first use, renewal inside the window, one renewal after a 401), region
-- autodiscovery, response decoding and the debug log live here; the C core moves the bytes and
-- keeps the secrets. Service classes and the Uber class both call `Client:request`.
local core = require "falcon.core"
local json = require "falcon.json"
local options = require "falcon.options"
local regions = require "falcon.regions"

local Client = {}
Client.__index = Client

local function now() return os.time() end

--- Creates a client. See README.md for the options.
---@param opts table|nil
---@param extra table|nil schema of extra option keys the caller owns (e.g. a service class's)
function Client.new(opts, extra)
  opts = options.check(opts, extra)
  local self = setmetatable({}, Client)
  self.renew_window = options.renew_window(opts)
  self.region_overrides = regions.overrides(opts.regions)
  local url, region = regions.resolve(opts.base_url, self.region_overrides)
  self.region = region
  local connect, read, total = options.timeouts(opts)
  local verify, bundle = options.tls(opts)
  self.core = core.client {
    base_url = url,
    client_id = opts.client_id, client_secret = opts.client_secret,
    member_cid = opts.member_cid, access_token = opts.access_token,
    connect_timeout = connect, read_timeout = read, timeout = total,
    proxy = options.proxy(opts, url), ssl_verify = verify, ca_bundle = bundle,
    user_agent = opts.user_agent,
  }
  if opts.debug == true then
    self.logger = function(line) io.stderr:write("falcon: ", line, "\n") end
  elseif type(opts.debug) == "function" then
    self.logger = opts.debug
  end
  if verify == false then
    io.stderr:write("falcon: warning: TLS certificate verification is off (ssl_verify = false)\n")
  end
  self.ratelimit = {}
  return self
end

function Client:base_url() return self.core:base_url() end

--- True while a token is held that is not inside the renew window.
function Client:token_valid()
  local info = self.core:token_info()
  if not info.has_token then return false end
  if info.static or info.expires_at == nil then return true end
  return now() + self.renew_window < info.expires_at
end

function Client:token_expired() return not self:token_valid() end

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
  return ct ~= nil and ct:lower():find("json", 1, true) ~= nil
end

-- JSON bodies become tables; a body that is not JSON (or not valid JSON) stays a string.
local function decode_body(headers, body, binary, status)
  if body == nil then return nil end
  if binary and status >= 200 and status < 300 then return body end
  if body ~= "" and is_json(headers) then
    local ok, decoded = pcall(json.decode, body)
    if ok then return decoded end
  end
  return body
end

function Client:_track(headers)
  local limit, remaining = headers["X-Ratelimit-Limit"], headers["X-Ratelimit-Remaining"]
  if limit then self.ratelimit.limit = tonumber(limit:match("%d+")) end
  if remaining then self.ratelimit.remaining = tonumber(remaining:match("%d+")) end
end

function Client:_log(fields)
  if not self.logger then return end
  local parts = {}
  for _, key in ipairs { "method", "route", "status", "duration", "trace_id", "retries", "error" } do
    if fields[key] ~= nil then parts[#parts + 1] = key .. "=" .. tostring(fields[key]) end
  end
  self.logger(table.concat(parts, " "), fields)
end

--- Fetches a token now. Returns true, or false and the response that explains why not.
function Client:login()
  local started = os.clock()
  local status, headers, body, info = self.core:authenticate()
  if status == nil then
    self:_log { method = "POST", route = "/oauth2/token", error = headers.kind }
    return false, transport_response(headers)
  end
  self:_track(headers)
  self:_log { method = "POST", route = "/oauth2/token", status = status, duration = info.total_time,
              trace_id = headers["X-Cs-Traceid"], started = started }
  if body == nil then -- the C core kept the token; only success leaves no body
    local url, region = regions.discover(self.region, headers["X-Cs-Region"], self.region_overrides)
    if url then
      self.core:set_base_url(url)
      self.region = region
    end
    return true
  end
  return false, { status_code = status, headers = headers, body = decode_body(headers, body, false, status) }
end

--- Revokes the token held. Returns true when the API confirmed it, and the response.
function Client:logout()
  local status, headers, body, info = self.core:revoke()
  if status == nil then return false, transport_response(headers) end
  self:_track(headers)
  self:_log { method = "POST", route = "/oauth2/revoke", status = status, duration = info.total_time }
  return status == 200, { status_code = status, headers = headers, body = decode_body(headers, body, false, status) }
end

-- A token is fetched on first use and renewed inside the renew window; a handed-in token is used as is.
function Client:_ensure_token()
  local info = self.core:token_info()
  if info.has_token and (info.static or info.expires_at == nil or now() + self.renew_window < info.expires_at) then
    return true
  end
  if not info.has_credentials then
    if info.has_token then return true end
    return false, transport_response {
      kind = "auth", reached_server = false,
      message = "no credentials: give client_id and client_secret (or FALCON_CLIENT_ID and "
        .. "FALCON_CLIENT_SECRET), or an access_token",
    }
  end
  return self:login()
end

local function core_request(req)
  return {
    method = req.method, path = req.route, query = req.query, headers = req.headers,
    body = req.body, content_type = req.content_type, form = req.form,
    save_to = req.save_to, progress = req.progress, auth = req.auth,
  }
end

--- Sends one API request. See CONTRACT: {method, route, query, headers, body, content_type, form,
--- save_to, progress, binary, operation}. Returns {status_code, headers, body}.
function Client:request(req)
  if req.auth ~= "none" then
    local ok, failure = self:_ensure_token()
    if not ok then return failure end
  end
  local wire = core_request(req)
  local status, headers, body, info = self.core:request(wire)
  local retries = 0
  -- One renewal and one retry after a 401 (expired or revoked token), never a loop.
  if status == 401 and req.auth ~= "none" and self.core:token_info().has_credentials then
    self.core:forget_token()
    local ok, failure = self:login()
    if not ok then return failure end
    retries = 1
    status, headers, body, info = self.core:request(wire)
  end
  if status == nil then
    self:_log { method = req.method, route = req.route, error = headers.kind, retries = retries }
    return transport_response(headers)
  end
  self:_track(headers)
  self:_log { method = req.method, route = req.route, status = status, duration = info.total_time,
              trace_id = headers["X-Cs-Traceid"], retries = retries }
  local response = { status_code = status, headers = headers,
                     body = decode_body(headers, body, req.binary, status) }
  if info.saved_to then response.saved_to, response.saved_bytes = info.saved_to, info.saved_bytes end
  return response
end

function Client:close() self.core:close() end

function Client:__tostring()
  return ("falcon.Client (%s, region %s, token %s)"):format(self.core:base_url(), self.region or "custom",
    self:token_valid() and "valid" or "not held")
end

Client.__close = Client.close
Client.__gc = nil

return Client
