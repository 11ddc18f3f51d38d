--- Retry and rate-limit policy: pure decisions, no I/O, shared by every driver.
-- What is retried:
--   * 429: always (the API did not process the request), after the time the API names
--     (X-Ratelimit-Retryafter, epoch seconds, or Retry-After, seconds), if that wait is within max_retry_wait;
--   * 500/502/503/504, timeouts, resets: only for requests that cannot duplicate a write (GET/HEAD and the
--     read-only POST routes: entity lookups `.../GET/vN`, aggregates, combined GraphQL queries);
--   * a connection that never came up (DNS, refused, TLS handshake): any request, since nothing was sent.
-- Waits grow exponentially (retry_backoff * 2^attempt, capped at retry_backoff_max) with full jitter.
local policy = {}

policy.defaults = { max_retries = 3, max_retry_wait = 60, retry_backoff = 0.5, retry_backoff_max = 8 }

--- The option keys this module owns, for the client's option schema.
policy.schema = { max_retries = "number", max_retry_wait = "number", retry_backoff = "number",
                  retry_backoff_max = "number" }

local function check_number(opts, key, min)
  local v = opts[key]
  if v == nil then return policy.defaults[key] end
  if v ~= v or v < min or v == math.huge then
    error(("falcon: bad option '%s' (a number >= %s expected, got %s)"):format(key, min, tostring(v)), 0)
  end
  return v
end

--- A policy from client options; `max_retries = 0` turns every retry off.
function policy.new(opts)
  return {
    max_retries = math.floor(check_number(opts, "max_retries", 0)),
    max_retry_wait = check_number(opts, "max_retry_wait", 0),
    retry_backoff = check_number(opts, "retry_backoff", 0),
    retry_backoff_max = check_number(opts, "retry_backoff_max", 0),
  }
end

--- True when sending the request twice cannot change anything on the server.
function policy.idempotent(method, route)
  if method == "GET" or method == "HEAD" then return true end
  if method ~= "POST" then return false end
  return route:find("/GET/v%d+$") ~= nil or route:find("^/[^/]+/aggregates/") ~= nil
      or route:find("/combined/graphql/") ~= nil
end

--- Seconds until the API's rate-limit window reopens, from a 429's headers (nil when not named).
function policy.retry_after(headers, now)
  local epoch = tonumber(headers["X-Ratelimit-Retryafter"] or "")
  if epoch then return math.max(0, epoch - now) end
  local seconds = tonumber(headers["Retry-After"] or "")
  if seconds then return math.max(0, seconds) end
  return nil
end

local TRANSIENT = { [500] = true, [502] = true, [503] = true, [504] = true }

local function backoff(p, attempt, random)
  local ceiling = math.min(p.retry_backoff_max, p.retry_backoff * 2 ^ attempt)
  return ceiling * random()
end

--- How long to wait before retrying, or nil to return this outcome to the caller.
---@param p table policy
---@param idempotent boolean
---@param attempt integer retries made so far
---@param status integer|nil nil for a transport failure
---@param headers table|nil response headers, or the transport error when status is nil
---@param now number epoch seconds
---@param random fun():number in [0, 1)
function policy.retry_wait(p, idempotent, attempt, status, headers, now, random)
  if attempt >= p.max_retries then return nil end
  if status == 429 then
    local wait = policy.retry_after(headers, now) or backoff(p, attempt, random)
    if wait > p.max_retry_wait then return nil end
    return wait
  end
  if status == nil then
    local err = headers
    if err.kind == "json" then return nil end -- the same answer would break the same limit again
    if err.reached_server == false or idempotent then return backoff(p, attempt, random) end
    return nil
  end
  if TRANSIENT[status] and idempotent then return backoff(p, attempt, random) end
  return nil
end

--- Seconds to wait before the next request so that a low X-Ratelimit-Remaining is not run out:
-- below 10% of the limit, requests are spaced to the sustainable rate (limit per 60 s).
function policy.pace(ratelimit)
  local limit, remaining = ratelimit.limit, ratelimit.remaining
  if not limit or not remaining or limit <= 0 then return 0 end
  if remaining >= limit * 0.1 then return 0 end
  return 60 / limit * (1 + (limit * 0.1 - remaining) / (limit * 0.1))
end

return policy
