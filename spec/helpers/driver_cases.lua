-- Error and retry cases run under both drivers (spec/openresty_spec.lua): the libcurl driver in the
-- busted process, the cosocket driver inside nginx. A case names the emulator faults to set first, the
-- client options and one request; `outcome` reduces what happened to values both drivers must agree on:
-- the final status or transport error kind, reached_server, and every attempt the engine logged.
local M = {}

local QUERY = "/message-center/queries/cases/v1"
local ACTIVITY = "/message-center/entities/case-activity/v1"
local FAST = { retry_backoff = 0.01, retry_backoff_max = 0.02 }

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
  local request = with(case.request)
  local response = client:request(request)
  client:close()
  local err = response.transport_error
  return {
    status = response.status_code,
    kind = err and err.kind or nil,
    reached_server = err and err.reached_server or nil,
    attempts = table.concat(attempts, "; "),
    message = err and err.message or nil, -- for the reader of a failure; not compared
  }
end

return M
