-- Error and retry cases run under both drivers (spec/openresty_spec.lua): the libcurl driver in the
-- busted process, the cosocket driver inside nginx. A case names the emulator faults to set first, the
-- client options and one request; `outcome` reduces what happened to values both drivers must agree on:
-- the final status or transport error kind, reached_server, and every attempt the engine logged.
-- A case may also send its request `times` times (the harm of a hostile answer shows on the next call),
-- say in how many `seconds` all must be done (outcome.in_time), and what `expect`s the outcome to hold.
local core = require "falcon.core"

local M = {}

local QUERY = "/message-center/queries/cases/v1"
local ACTIVITY = "/message-center/entities/case-activity/v1"
local FAST = { retry_backoff = 0.01, retry_backoff_max = 0.02 }
local TOKEN = "/oauth2/token 201; " -- the first attempt a fresh client logs

local function with(base, extra)
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

local GET = { method = "GET", route = QUERY, query = { { "limit", 1 } } }
local WRITE = { method = "POST", route = ACTIVITY, content_type = "application/json",
                body = '{"case_id":"0","type":"comment","body":"x","user_uuid":"u"}' }

-- target: "http" (emulator), "https" (its TLS port, CA trusted), "refused" (a closed port),
-- "untrusted" (a TLS server whose certificate no trusted CA signed).
M.list = {
  { name = "401 renewal", faults = { { route = QUERY, status = 401, count = 1 } }, target = "http",
    options = FAST, request = GET },
  { name = "429 retry", faults = { { route = QUERY, status = 429, retry_after = 0.2, count = 1 } }, target = "http",
    options = FAST, request = GET },
  { name = "503 on a read is retried", faults = { { route = QUERY, status = 503, count = 2 } }, target = "http",
    options = FAST, request = GET },
  { name = "503 on a write is not retried", faults = { { route = ACTIVITY, status = 503, count = 1 } },
    target = "http", options = FAST, request = WRITE },
  { name = "timeout", faults = { { route = QUERY, kind = "delay", delay = 1.5, count = 2 } }, target = "http",
    options = with(FAST, { timeout = 0.5, max_retries = 1 }), request = GET },
  { name = "reset on a reused connection is resent", faults = { { route = QUERY, kind = "reset", count = 1 } },
    target = "http", options = FAST, request = GET },
  { name = "refused", target = "refused", options = with(FAST, { max_retries = 1 }), request = GET },
  { name = "TLS failure", target = "untrusted", options = with(FAST, { max_retries = 0 }), request = GET },
  { name = "HTTPS works", target = "https", options = FAST, request = GET },
  -- Server-supplied waits (issue 13): the same bounds under every driver.
  { name = "a budget of 0.001 never stalls later calls",
    faults = { { route = QUERY, headers = { ["X-Ratelimit-Limit"] = "0.001", ["X-Ratelimit-Remaining"] = "0" } } },
    target = "http", options = with(FAST, { max_retry_wait = 0.3 }), request = GET, times = 3, seconds = 1.5,
    expect = { status = 200, in_time = true } },
  { name = "a spent budget paces no longer than max_retry_wait",
    faults = { { route = QUERY, headers = { ["X-Ratelimit-Limit"] = "1", ["X-Ratelimit-Remaining"] = "0" } } },
    target = "http", options = with(FAST, { max_retry_wait = 0.3 }), request = GET, times = 2, seconds = 1.5,
    expect = { status = 200, in_time = true } },
  { name = "a 429 naming no number is retried after backoff",
    faults = { { route = QUERY, status = 429, headers = { ["X-Ratelimit-Retryafter"] = "nan", ["Retry-After"] = "inf" } } },
    target = "http", options = FAST, request = GET, seconds = 1,
    expect = { status = 200, in_time = true, attempts = TOKEN .. QUERY .. " 429; " .. QUERY .. " 200" } },
  { name = "a 429 naming a day is given back at once",
    faults = { { route = QUERY, status = 429, headers = { ["X-Ratelimit-Retryafter"] = "x", ["Retry-After"] = "86400" } } },
    target = "http", options = FAST, request = GET, seconds = 1,
    expect = { status = 429, in_time = true, attempts = TOKEN .. QUERY .. " 429" } },
}

M.by_name = {}
for _, case in ipairs(M.list) do M.by_name[case.name] = case end

--- Runs `case` with a fresh client (falcon.client) built from `base` options; returns the outcome.
function M.run(Client, case, base)
  local attempts = {}
  local opts = with(base, case.options)
  opts.debug = function(_, fields)
    attempts[#attempts + 1] = fields.route .. " " .. tostring(fields.status or fields.error)
  end
  local client = Client.new(opts)
  local started = core.now()
  local response
  for _ = 1, case.times or 1 do response = client:request(with(case.request)) end
  local elapsed = core.now() - started
  client:close()
  local err = response.transport_error
  return {
    status = response.status_code,
    kind = err and err.kind or nil,
    reached_server = err and err.reached_server or nil,
    attempts = table.concat(attempts, "; "),
    in_time = case.seconds and elapsed <= case.seconds or nil,
    message = err and err.message or nil, -- for the reader of a failure; not compared
  }
end

return M
