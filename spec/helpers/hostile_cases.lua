-- Hostile-server cases (issue 13) run by every driver: the blocking libcurl driver and the curl multi
-- driver in the busted process (spec/reliability_spec.lua), the cosocket driver inside nginx
-- (spec/helpers/ngx_app.lua, scenario "hostile"). A case is a plan for spec/helpers/hostile_server.c
-- (one action per request), client options, and steps: requests sent in order with an optional pause
-- before each. M.run gives one outcome per step, reduced to plain values every driver must agree on.
local M = {}

local WRITE = { method = "POST", route = "/message-center/entities/case-activity/v1",
                content_type = "application/json", body = '{"type":"comment"}' }
local READ = { method = "GET", route = "/message-center/queries/cases/v1" }
local MiB = 1024 * 1024
local OK_BODY = '{"meta":{},"resources":["ok"],"errors":[]}' -- the `ok` action's body
local FAST = { retry_backoff = 0.01, retry_backoff_max = 0.02 }

-- A raw answer for the `bytes FILE` action: a JSON Content-Type, `head` (more header lines), `body`.
local function answer(status, head, body)
  return "HTTP/1.1 " .. status .. "\r\nContent-Type: application/json\r\n" .. head .. "\r\n" .. body
end
local function sized(status, body) return answer(status, "Content-Length: " .. #body .. "\r\n", body) end
local NOT_UTF8 = '{"resources":["ok","\255\254"]}'
local function with(base, extra)
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(extra) do t[k] = v end
  return t
end

M.list = {
  -- A write the server applied before dropping the connection: one application, an error to the caller.
  { name = "a write applied, then the connection dropped", plan = { "ok", "drop" }, steps = { READ, WRITE } },
  { name = "a write dropped before it was applied", plan = { "ok", "drop-unapplied" }, steps = { READ, WRITE } },
  -- A read is safe to send again on a fresh connection.
  { name = "a read dropped on a reused connection", plan = { "ok", "drop" }, steps = { READ, READ } },
  -- A server that closes idle connections between writes: every write goes through, once.
  { name = "writes to a server closing idle connections", plan = { "idle-close 200", "idle-close 200", "idle-close 200" },
    steps = { WRITE, { pause = 0.4, request = WRITE }, { pause = 0.4, request = WRITE } } },
  { name = "writes to a server closing after each answer", plan = { "close-after", "close-after", "close-after" },
    steps = { WRITE, { pause = 0.1, request = WRITE }, { pause = 0.1, request = WRITE } } },
  -- Bodies held in memory are bounded after decoding.
  { name = "a double-gzip bomb", plan = { "gzip-bomb 256" }, options = { max_body_bytes = 8 * MiB }, steps = { READ } },
  { name = "a gzip bomb", plan = { "gzip-bomb1 256" }, options = { max_body_bytes = 8 * MiB }, steps = { READ } },
  { name = "an endless chunked body", plan = { "endless" }, options = { max_body_bytes = 4 * MiB }, steps = { READ } },
  { name = "a gzip body within the bound", plan = { "gzip-ok" }, steps = { READ } },
  { name = "a truncated gzip stream in complete chunked framing", plan = { "gzip-truncated" }, steps = { READ } },
  { name = "a truncated gzip stream with a matching Content-Length", plan = { "gzip-truncated-cl" }, steps = { READ } },
  -- An answer that trickles in (a byte every 1.5 s: each read is in time) still ends, as a timeout.
  { name = "a body trickling in", plan = { "slow-body 1500" }, options = { read_timeout = 2 }, steps = { READ } },
  -- Bytes on an idle kept-alive connection are never the next answer.
  { name = "a stray answer after a 204", plan = { "stray", 'json {"real":true}' },
    steps = { READ, { pause = 0.2, request = READ } } },
  { name = "a stray answer in the same packet as a 204", plan = { "stray-same", 'json {"real":true}' },
    steps = { READ, { pause = 0.2, request = READ } } },
  -- Control characters in a header value: an answer all the same, in every driver (shown escaped).
  { name = "a header value with control characters", plan = { "headers X-Cs-Traceid: a\27[31mb\7c" },
    steps = { WRITE } },
  -- A token with CR/LF never becomes a header: the login fails, no API request is sent.
  { name = "a token with CR LF", login = true,
    plan = { [[token {"access_token":"abc\r\nX-Injected: 1","expires_in":1799,"token_type":"bearer"}]] },
    steps = { READ } },
  { name = "a header block past the bound", plan = { "bytes huge-headers" }, steps = { READ },
    files = { ["huge-headers"] = "HTTP/1.1 200 OK\r\n" .. ("X-Filler: " .. ("a"):rep(1000) .. "\r\n"):rep(300)
      .. "Content-Length: 2\r\n\r\n{}" } },
  -- Answers that are not what they claim (issue 23): a 2xx that says JSON and is not is an error, never
  -- bytes handed back as if downloaded; a non-2xx keeps its status; a length that is not plain is a broken
  -- answer, and what it leaves on the connection is never read as the next answer.
  { name = "a 2xx that says JSON, with invalid UTF-8", plan = { "bytes answer" }, steps = { READ, READ },
    files = { answer = sized("200 OK", NOT_UTF8) } },
  { name = "a 2xx that says JSON, with a truncated JSON text", plan = { "bytes answer" }, steps = { READ },
    files = { answer = sized("200 OK", '{"resources":["ok",') } },
  { name = "a 2xx that says JSON and is not, in Result mode", plan = { "bytes answer" }, service = true,
    options = { pythonic = true }, steps = { READ }, files = { answer = sized("200 OK", NOT_UTF8) } },
  { name = "a 2xx that says JSON and is not, through a service class", plan = { "bytes answer" }, service = true,
    steps = { READ }, files = { answer = sized("200 OK", NOT_UTF8) } },
  { name = "a 2xx that says JSON and is not, to a read, is not sent again", plan = { "bytes answer" },
    options = with(FAST, { max_retries = 2 }), steps = { READ }, files = { answer = sized("200 OK", NOT_UTF8) } },
  { name = "a 2xx that says JSON and is not, to a write, is not sent again", plan = { "bytes answer" },
    options = with(FAST, { max_retries = 2 }), steps = { WRITE }, files = { answer = sized("201 Created", NOT_UTF8) } },
  { name = "a 503 that says JSON and is not keeps its status", plan = { "bytes answer" }, steps = { READ, READ },
    files = { answer = sized("503 Service Unavailable", NOT_UTF8) } },
  { name = "a 503 that says JSON and is not, past 64 KiB, keeps its status and its first 64 KiB",
    plan = { "bytes answer" }, steps = { READ },
    files = { answer = sized("503 Service Unavailable", '["' .. ("x"):rep(70 * 1024) .. '"') } },
  { name = "a 503 that says JSON and is not, to a read, is retried", plan = { "bytes answer" },
    options = with(FAST, { max_retries = 1 }), steps = { READ },
    files = { answer = sized("503 Service Unavailable", NOT_UTF8) } },
  { name = "a 503 that says JSON and is not, to a write, is not sent again", plan = { "bytes answer" },
    options = with(FAST, { max_retries = 2 }), steps = { WRITE },
    files = { answer = sized("503 Service Unavailable", NOT_UTF8) } },
  -- A redirect is not followed (it would carry the bearer token elsewhere) and is not a success either:
  -- its body is never handed back as if it were a download.
  { name = "a 302 with a body, through a service class", plan = { "bytes answer" }, service = true,
    steps = { READ }, files = { answer = "HTTP/1.1 302 Found\r\nLocation: https://elsewhere.example/\r\n"
      .. "Content-Type: text/html\r\nContent-Length: 5\r\n\r\nmoved" } },
  { name = "a 302 with a body, in Result mode", plan = { "bytes answer" }, service = true,
    options = { pythonic = true }, steps = { READ }, files = { answer = "HTTP/1.1 302 Found\r\n"
      .. "Location: https://elsewhere.example/\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nmoved" } },
  { name = "two different Content-Length fields cutting a JSON answer short", plan = { "bytes answer" },
    steps = { READ, READ },
    files = { answer = answer("200 OK", "Content-Length: " .. #OK_BODY .. "\r\nContent-Length: 3\r\n", OK_BODY) } },
  { name = "two different Content-Length fields, the longer last", plan = { "bytes answer" }, steps = { READ, READ },
    files = { answer = answer("200 OK", "Content-Length: 3\r\nContent-Length: " .. #OK_BODY .. "\r\n", OK_BODY) } },
  { name = "two identical Content-Length fields", plan = { "bytes answer" }, steps = { READ, READ },
    files = { answer = answer("200 OK", ("Content-Length: " .. #OK_BODY .. "\r\n"):rep(2), OK_BODY) } },
  { name = "a list of lengths in one Content-Length", plan = { "bytes answer" }, steps = { READ, READ },
    files = { answer = answer("200 OK", "Content-Length: " .. #OK_BODY .. ", " .. #OK_BODY .. "\r\n", OK_BODY) } },
  { name = "a Content-Length beside chunked framing", plan = { "bytes answer" }, steps = { READ, READ },
    files = { answer = answer("200 OK", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
      ("%x\r\n%s\r\n0\r\n\r\n"):format(#OK_BODY, OK_BODY)) } },
  { name = "a write answered with two Content-Length fields", plan = { "bytes answer" },
    options = with(FAST, { max_retries = 2 }), steps = { WRITE },
    files = { answer = answer("201 Created", "Content-Length: " .. #OK_BODY .. "\r\nContent-Length: 3\r\n", OK_BODY) } },
}

M.by_name = {}
for _, case in ipairs(M.list) do M.by_name[case.name] = case end

local function outcome(response)
  -- A service call in the default mode may give back bare bytes (a download): no status, no error.
  if type(response) ~= "table" then return { bare = type(response) } end
  local err = response.transport_error
  local body = response.body
  return {
    body_length = type(body) == "string" and #body or nil,
    body_start = type(body) == "string" and body:sub(1, 5) or nil,
    status = response.status_code,
    kind = err and err.kind or nil,
    reached_server = err and err.reached_server or nil,
    message = err and err.message or (type(body) == "table" and body.errors and body.errors[1]
      and body.errors[1].message) or nil,
    real = type(body) == "table" and body.real or nil,
    stray = type(body) == "table" and body.stray or nil,
    resources = type(body) == "table" and body.resources and #body.resources or nil,
  }
end

-- An APIError raised in Result mode, as an outcome.
local function raised(err)
  local errors = require "falcon.base.errors"
  if not errors.APIError.is(err) then return { raised = tostring(err) } end
  local transport = err.transport_error
  return { raised = "falcon.APIError", status = err.status_code, kind = transport and transport.kind or nil,
           message = err.message }
end

-- A case with `service` calls query_cases (a READ) on falcon.MessageCenter, in the mode its options say.
local function service_step(mc)
  local ok, response = require("falcon.base.compat").pcall(mc.query_cases, mc)
  return ok and outcome(response) or raised(response)
end

--- Runs `case` against the hostile server at `url` with falcon.client's Client; `sleep(seconds)` pauses.
function M.run(Client, case, url, sleep)
  local opts = { base_url = url, max_retries = 0 }
  if case.login then opts.client_id, opts.client_secret = "id", "secret" else opts.access_token = "token" end
  for k, v in pairs(case.options or {}) do opts[k] = v end
  local mc = case.service and require("falcon").MessageCenter(opts)
  local client = mc and rawget(mc, "_client") or Client.new(opts)
  local outcomes = {}
  for i, step in ipairs(case.steps) do
    local request = step.request or step
    if step.pause then sleep(step.pause) end
    local copy = {}
    for k, v in pairs(request) do copy[k] = v end
    outcomes[i] = mc and service_step(mc) or outcome(client:request(copy))
  end
  client:close()
  return outcomes
end

return M
