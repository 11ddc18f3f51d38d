--- Retry and rate-limit policy: pure decisions, no I/O, shared by every driver.
-- What is retried:
--   * 429: always (the API did not process the request), after the time the API names
--     (X-Ratelimit-Retryafter, epoch seconds, or Retry-After, seconds), if that wait is within max_retry_wait;
--   * 500/502/503/504, timeouts, resets: only for requests that cannot duplicate a write (GET/HEAD and the
--     read-only POST routes: entity lookups `.../GET/vN`, aggregates, combined GraphQL queries);
--   * a connection that never came up (DNS, refused, TLS handshake): any request, since nothing was sent.
-- Waits grow exponentially (retry_backoff * 2^attempt, capped at retry_backoff_max) with full jitter.
-- Every wait derived from a server's answer (a 429's named time, pacing on a low budget) is bounded by
-- `max_wait`: max_retry_wait, and the call's whole timeout when it has one. Server numbers are read
-- strictly (falcon.base.untrusted): a header that is not a plain decimal number is as good as absent.
local errors = require "falcon.base.errors"
local untrusted = require "falcon.base.untrusted"

local policy = {}

policy.defaults = { max_retries = 3, max_retry_wait = 60, retry_backoff = 0.5, retry_backoff_max = 8 }

local function check_number(opts, key, min)
  local v = opts[key]
  if v == nil then return policy.defaults[key] end
  if v ~= v or v < min or v == math.huge then
    errors.bad_option(nil, key, ("a number >= %s expected, got %s"):format(min, tostring(v)))
  end
  return v
end

--- A policy from client options; `max_retries = 0` turns every retry off.
---@param opts table client options
---@param timeout? number the call's whole timeout in seconds (nil or 0: none)
function policy.new(opts, timeout)
  local p = {
    max_retries = math.floor(check_number(opts, "max_retries", 0)),
    max_retry_wait = check_number(opts, "max_retry_wait", 0),
    retry_backoff = check_number(opts, "retry_backoff", 0),
    retry_backoff_max = check_number(opts, "retry_backoff_max", 0),
  }
  p.max_wait = p.max_retry_wait
  if timeout and timeout > 0 then p.max_wait = math.min(p.max_wait, timeout) end
  return p
end

--- True when sending the request twice cannot change anything on the server.
function policy.idempotent(method, route)
  if method == "GET" or method == "HEAD" then return true end
  if method ~= "POST" then return false end
  return route:find("/GET/v%d+$") ~= nil or route:find("^/[^/]+/aggregates/") ~= nil
      or route:find("/combined/graphql/") ~= nil
end

--- Seconds until the API's rate-limit window reopens, from a 429's headers (nil when not named, or not a
-- number: Retry-After's HTTP-date form is not used by the API).
function policy.retry_after(headers, now)
  local epoch = untrusted.number(headers["X-Ratelimit-Retryafter"])
  if epoch then return math.max(0, epoch - now) end
  return untrusted.number(headers["Retry-After"])
end

local TRANSIENT = { [500] = true, [502] = true, [503] = true, [504] = true }

--- The statuses retry_wait may retry (a transport failure, status nil, may be retried too): for any other
--- answer it returns nil, so the engine need not ask.
policy.RETRIED = { [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }

local function backoff(p, attempt, random)
  local ceiling = math.min(p.retry_backoff_max, p.retry_backoff * 2 ^ attempt)
  return ceiling * random()
end

--- The wait before look number `failures` (1, 2, ...) again at a peer that failed, or at another
--- process's progress: `initial` doubling up to `max`, then jittered to half to all of it, so that those
--- who failed together do not come back together.
function policy.backoff(initial, max, failures, random)
  local wait = math.min(max, initial * 2 ^ math.min(failures - 1, 20))
  return wait * (0.5 + 0.5 * random())
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
    if wait > p.max_wait then return nil end
    return wait
  end
  if status == nil then
    local err = headers
    -- The caller's progress function stopped it (or Ctrl-C fired inside it): never transient.
    if err.kind == "aborted" then return nil end
    if err.kind == "json" then return nil end -- the same answer would break the same limit again
    if err.reached_server == false or idempotent then return backoff(p, attempt, random) end
    return nil
  end
  if TRANSIENT[status] and idempotent then return backoff(p, attempt, random) end
  return nil
end

-- The smallest of the comma-separated whole numbers in a rate-limit header ("5980, 5995": GraphQL
-- reports two budgets, and the smaller runs out first), or nil when any is not one.
local function budget(text)
  if text == nil then return nil end
  local low
  for part in (text .. ","):gmatch("([^,]*),") do
    local n = untrusted.integer(part)
    if n == nil then return nil end
    low = math.min(low or n, n)
  end
  return low
end

-- Below this share of the limit, requests are spaced out (policy.pace).
local LOW = 0.1

--- Records a response's X-Ratelimit-Limit / X-Ratelimit-Remaining in `ratelimit` (a value that is not a
-- budget is recorded as unknown), and whether the budget is low (`low`: policy.pace has a wait to give).
-- Every answer comes here: a limit is read again only when its text changed (it seldom does), and a
-- single number goes straight to the strict reader.
function policy.track(ratelimit, headers, now)
  local limit, remaining = headers["X-Ratelimit-Limit"], headers["X-Ratelimit-Remaining"]
  if limit and limit ~= ratelimit.limit_text then
    local value = budget(limit)
    ratelimit.limit, ratelimit.limit_text = value and value >= 1 and value or nil, limit
  end
  if remaining then
    -- one number (the common reading) is read as budget would read it, without splitting it first
    ratelimit.remaining = untrusted.number(remaining, true) or (remaining:find(",", 1, true) and budget(remaining))
      or nil
  end
  ratelimit.seen_at = now
  remaining, limit = ratelimit.remaining, ratelimit.limit
  ratelimit.low = remaining ~= nil and limit ~= nil and remaining < limit * LOW
end

-- A budget reading older than the API's one-minute window says nothing about the next request.
local WINDOW = 60

--- Seconds to wait before the next request so that a low X-Ratelimit-Remaining is not run out:
-- below 10% of the limit, requests are spaced to the sustainable rate (limit per 60 s).
function policy.pace(ratelimit, now)
  local limit, remaining = ratelimit.limit, ratelimit.remaining
  if not limit or not remaining or limit <= 0 then return 0 end
  if now and ratelimit.seen_at and now - ratelimit.seen_at > WINDOW then return 0 end
  if remaining >= limit * LOW then return 0 end
  return WINDOW / limit * (1 + (limit * LOW - remaining) / (limit * LOW))
end

--- Seconds to wait before sending: while a 429 has paused the client, or to pace a low budget; never
-- more than max_wait.
function policy.wait_before(p, ratelimit, now)
  local wait = math.max(ratelimit.paused_until - now, policy.pace(ratelimit, now))
  if wait ~= wait or wait <= 0 then return 0 end
  return math.min(wait, p.max_wait)
end

return policy
