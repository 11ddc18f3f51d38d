-- Rate limits: a fixed window per API client (`rate_limit = {limit, window}` in the config).
-- Every API response reports X-Ratelimit-Limit/Remaining; the token endpoint's answers do not, as the
-- API's do not (a token request still counts; envelope.common_headers writes them). A spent budget
-- answers 429 with X-Ratelimit-Retryafter (epoch seconds when the window refills) and Retry-After, on
-- every route.
local store = require "emulator.store"

local M = {}

-- Counts one request for `key` and records the numbers in ngx.ctx.rate.
-- Returns true when the request is within budget.
function M.consume(key)
    local conf = store.conf.rate_limit
    local limit, window = conf.limit, conf.window
    local now = ngx.now()
    local bucket = store.buckets[key]
    if not bucket or now >= bucket.reset then
        bucket = { used = 0, reset = math.ceil(now + window) }
        store.buckets[key] = bucket
    end
    local allowed = bucket.used < limit
    if allowed then
        bucket.used = bucket.used + 1
    end
    ngx.ctx.rate = {
        limit = limit,
        remaining = math.max(limit - bucket.used, 0),
        reset = bucket.reset,
        limited = not allowed,
    }
    return allowed
end

return M
