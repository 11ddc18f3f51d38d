--- The ngx_lua cosocket driver: requests inside nginx that never block the worker.
-- falcon.drivers picks it by itself in the phases where cosockets work. It only moves bytes: the C core
-- builds every request (client:exchange(kind, wire): the same kinds and encoders as the libcurl paths) and
-- reads every response (libhttp-parser, C); the engine (falcon.client) keeps every policy.
--
-- What differs from libcurl, and why:
--   * The request head passes through a Lua string on its way to the socket (ngx.socket.tcp only sends
--     Lua strings). It carries the bearer token (and the token request's form carries the client
--     secret); the string is sent and dropped at once, never stored, logged or returned.
--   * TLS trust comes from nginx's `lua_ssl_trusted_certificate` directive (and `lua_ssl_verify_depth`),
--     not per socket. A client's `ca_bundle` cannot be applied per connection: it must be the file that
--     directive names, declared with `require("falcon.drivers.cosocket").trusted_certificate = "<path>"`
--     (init_by_lua); otherwise every request fails with a tls error saying so. Verification is on unless
--     the client says ssl_verify = false.
--   * No proxy: a client with `proxy` fails loudly (kind "proxy"); the environment's http(s)_proxy is
--     not read.
--   * Responses are asked for uncompressed (Accept-Encoding: identity).
-- luacheck: globals ngx
local core = require "falcon.core"
local check_deadline = require("falcon.drivers.multi").check_deadline

local cosocket = { name = "cosocket" }

--- The file named by nginx's lua_ssl_trusted_certificate, when a client gives ca_bundle. Per process,
--- not per client, because what it declares is: nginx verifies every cosocket against the file that
--- directive names, whatever the client; a per-client value could only disagree with it.
cosocket.trusted_certificate = nil

local CHUNK = 65536
local NO_LIMIT_MS = 24 * 3600 * 1000
-- A pooled connection the server closed meanwhile fails before any answer: libcurl then resends on a
-- fresh connection by itself, and so does this driver (at most this many stale connections in a row).
local STALE_RETRIES = 4
-- Idle connections of the write pool close after this (libcurl's side: WRITE_REUSE_IDLE_S, transfer.c).
local WRITE_POOL_IDLE_MS = 4000

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("*a")
  f:close()
  return data
end

-- nil when the client's ca_bundle is what nginx trusts (or none was given), else why not.
local function ca_problem(t)
  if not t.ca_bundle or t.scheme ~= "https" or not t.ssl_verify then return nil end
  local declared = cosocket.trusted_certificate
  if declared == t.ca_bundle then return nil end
  if declared then
    local a, b = read_all(declared), read_all(t.ca_bundle)
    if a and a == b then return nil end
  end
  return ("ca_bundle '%s' cannot be applied per connection under nginx: name it in the "
    .. "lua_ssl_trusted_certificate directive and declare it with require('falcon.cosocket')"
    .. ".trusted_certificate = '<path>'"):format(t.ca_bundle)
end

local function ms(seconds, deadline)
  local limit = seconds and seconds > 0 and seconds * 1000 or NO_LIMIT_MS
  if deadline then limit = math.min(limit, (deadline - core.now()) * 1000) end
  return math.max(1, math.floor(limit))
end

local warned = {}

-- The name sent in SNI and checked against the certificate. ngx_lua checks names only (X509_check_host):
-- for an IP-literal base URL (never the Falcon cloud; a local test server) nothing is sent, and the
-- chain is still verified against lua_ssl_trusted_certificate, but not the address; said once in the log.
local function server_name(t)
  local host = t.host
  if host:match("^%d+%.%d+%.%d+%.%d+$") or host:find(":", 1, true) then
    if t.ssl_verify and not warned[host] then
      warned[host] = true
      ngx.log(ngx.WARN, "falcon: ", host, " is an IP address: ngx_lua verifies the certificate chain but cannot ",
        "check the address against it; use a host name to have it checked")
    end
    return nil
  end
  return host
end
cosocket.server_name = server_name -- also for Redis over TLS (falcon.fleet.redis)

local function connect_kind(err)
  if err == "timeout" then return "timeout" end
  if err:find("resolve", 1, true) or err:find("resolver", 1, true) then return "dns" end
  return "connect"
end

-- Calls the request's progress function as libcurl would; false (or an error) aborts the exchange.
local function progress(ex, wire)
  local fn = wire and wire.progress
  if not fn then return true end
  local ok, verdict = pcall(fn, ex:progress())
  if not ok then return false, "progress callback failed: " .. tostring(verdict) end
  if verdict == false then return false, "progress callback returned false" end
  return true
end

-- Sends the exchange's request on sock; true, or false + kind + detail.
local function send(sock, ex, wire)
  local ok, err = sock:send(ex:head())
  if not ok then return false, err == "timeout" and "timeout" or "send", err end
  while true do
    local chunk, ferr = ex:body(CHUNK)
    if ferr then return false, "file", ferr end
    if not chunk then return true end
    ok, err = sock:send(chunk)
    if not ok then return false, err == "timeout" and "timeout" or "send", err end
    local go, why = progress(ex, wire)
    if not go then return false, "aborted", why end
  end
end

-- Reads the response into the exchange: "done" or "failed" (the exchange holds why), whether any byte
-- came back, and the socket's error. As libcurl's low-speed limit does, an answer that trickles in at
-- under 1 byte/s on average over read_timeout is a timeout (each receive alone would never time out).
local function receive(sock, ex, wire, read_timeout)
  local got_any = false
  local window_start, window_bytes = core.now(), 0
  while true do
    local data, err = sock:receiveany(CHUNK)
    local state
    if data then
      got_any = true
      window_bytes = window_bytes + #data
      local elapsed = core.now() - window_start
      if read_timeout > 0 and elapsed >= read_timeout then
        if window_bytes < elapsed then
          ex:fail("timeout", ("less than 1 byte/s for %g seconds"):format(read_timeout), true)
          return "failed", got_any, "timeout"
        end
        window_start, window_bytes = window_start + elapsed, 0
      end
      state = ex:feed(data)
      if state == "more" then
        local go, why = progress(ex, wire)
        if not go then ex:fail("aborted", why, true); return "failed", got_any, "aborted" end
      end
    elseif err == "closed" then
      state = ex:feed()
    else
      ex:fail(err == "timeout" and "timeout" or "recv", err, true)
      return "failed", got_any, err
    end
    if state ~= "more" then return state, got_any, err end
  end
end

-- TLS on a new connection; nil, or the failure's kind and detail (the socket is then closed).
local function handshake(sock, t)
  -- false: no session object wanted back (pooled connections are what is reused)
  local done, err = sock:sslhandshake(false, server_name(t), t.ssl_verify)
  if done then return nil end
  sock:close()
  if err == "timeout" then return "timeout", "TLS handshake failed: timeout" end
  if tostring(err):match("^%d+:") or err == "certificate host mismatch" then return "verify", err end
  return "tls", "TLS handshake failed: " .. tostring(err)
end

local NOT_STALE = { timeout = true, file = true, aborted = true }

-- One exchange over a pooled connection: connect (+ TLS), send, receive, keep alive or close.
local function run(client, ex, wire)
  local t = client:transport()
  if t.proxy then
    ex:fail("proxy", "the cosocket driver cannot use a proxy (unset 'proxy', or call outside nginx)", false)
    return ex:result()
  end
  local problem = ca_problem(t)
  if problem then
    ex:fail("tls", problem, false)
    return ex:result()
  end
  local tls = t.scheme == "https"
  -- A body for on_data may never end (an Event Streams feed): no total time limit, as in transfer.c.
  local deadline = t.timeout > 0 and not (wire and wire.on_data) and core.now() + t.timeout or nil
  -- Writes take connections from a pool of their own whose idle ones are closed after a few seconds:
  -- a write must not meet a server's idle close in flight, since it is never sent twice (ex:rewind).
  local repeatable = ex:repeatable()
  local pool = ("falcon:%s:%d:%s:%s:%s"):format(t.host, t.port, tls and "tls" or "tcp",
    t.ssl_verify and "verify" or "noverify", repeatable and "r" or "w")
  local attempt = 0
  while true do
    local sock = ngx.socket.tcp()
    sock:settimeouts(ms(t.connect_timeout, deadline), ms(t.read_timeout, deadline), ms(t.read_timeout, deadline))
    local ok, err = sock:connect(t.host, t.port, { pool = pool })
    if not ok then
      ex:fail(connect_kind(err), ("Failed to connect to %s port %d: %s"):format(t.host, t.port, err), false)
      return ex:result()
    end
    local reused = sock:getreusedtimes() or 0
    if tls and reused == 0 then
      local kind, detail = handshake(sock, t)
      if kind then
        ex:fail(kind, detail, false)
        return ex:result()
      end
    end
    local state, got_any, kind = "failed", false
    local sent, send_kind, detail = send(sock, ex, wire)
    if sent then
      state, got_any, kind = receive(sock, ex, wire, t.read_timeout)
    else
      kind = send_kind
    end
    if state == "done" then
      if ex:keepalive() then sock:setkeepalive(not repeatable and WRITE_POOL_IDLE_MS or nil) else sock:close() end
      return ex:result()
    end
    sock:close()
    -- A reused connection that died before any answer: resend on another one, as libcurl does, unless
    -- the request is not safe to repeat (then ex:rewind records the failure).
    local stale = reused > 0 and not got_any and not NOT_STALE[kind] and attempt < STALE_RETRIES
    if stale and ex:rewind() then
      attempt = attempt + 1
    else
      if not sent then ex:fail(send_kind, detail, true) end
      return ex:result()
    end
  end
end

--- Driver interface (falcon.drivers): one exchange of `kind` ("api", "token", "revoke").
function cosocket.exchange(client, kind, wire)
  local ex, err = client:exchange(kind, wire)
  if not ex then return nil, err end
  return run(client, ex, wire)
end

-- ---- tasks and waits: light threads and ngx.semaphore (lua-resty-core, which ngx_lua 0.10.16+ loads) --

-- One semaphore wait at most this long (its timeout is whole milliseconds in a C int): a longer wait,
-- for a release or a far deadline, takes several.
local LONGEST_WAIT_S = 86400

--- Driver interface (falcon.drivers): a queue whose waits end at q.release() (true) or their deadline (false).
function cosocket.queue()
  local semaphore = require "ngx.semaphore" -- exists only inside nginx (ngx_lua)
  local function round() return { sema = semaphore.new(0), waiters = 0 } end
  local current, q = round(), {}
  function q.wait(deadline)
    check_deadline(deadline)
    local mine = current -- a release starts the next round: waits that begin after it wait for the next
    mine.waiters = mine.waiters + 1
    while true do
      local left = deadline - core.now()
      if left <= 0 then return false end
      if mine.sema:wait(math.min(left, LONGEST_WAIT_S)) then return true end
    end
  end
  function q.release()
    local ending = current
    if ending.waiters == 0 then return end
    current = round()
    ending.sema:post(ending.waiters)
  end
  return q
end

--- Driver interface: fn as a light thread (it runs at once, up to its first wait).
function cosocket.spawn(fn)
  local thread, err = ngx.thread.spawn(fn)
  if not thread then error("falcon: cosocket: cannot start a light thread: " .. tostring(err), 2) end
  -- ngx.thread.kill ends a thread only for the thread that spawned it; any other lets it end by itself.
  return { cancel = function() pcall(ngx.thread.kill, thread) end }
end

--- Driver interface: light threads need no loop to run them.
function cosocket.run(fn, ...) return fn(...) end

-- Worker exit: nginx runs its pending timers at once, with premature = true, when the worker is told to
-- exit. One such timer per worker calls every on_exit function, so nothing looks at ngx.worker.exiting()
-- again and again.
local exit_calls = setmetatable({}, { __mode = "k" }) -- owner -> fn: an owner dropped is forgotten
local exit_timer_armed = false
local EXIT_TIMER_S = 86400

local function on_exit_timer(premature)
  if not premature then -- a day passed: watch again
    exit_timer_armed = ngx.timer.at(EXIT_TIMER_S, on_exit_timer) and true or false
    return
  end
  for owner, fn in pairs(exit_calls) do
    exit_calls[owner] = nil
    local ok, err = pcall(fn, owner)
    if not ok then ngx.log(ngx.ERR, "falcon: on worker exit: ", tostring(err)) end
  end
end

--- fn(owner) once, when this nginx worker is told to exit (at once if it is exiting). fn must not hold
--- `owner` itself (it is given it), or the owner is never forgotten.
function cosocket.on_exit(owner, fn)
  if ngx.worker.exiting() then return fn(owner) end
  exit_calls[owner] = fn
  if not exit_timer_armed then
    local ok, err = ngx.timer.at(EXIT_TIMER_S, on_exit_timer)
    if not ok then error("falcon: cosocket: cannot watch for the worker's exit: " .. tostring(err), 2) end
    exit_timer_armed = true
  end
end

-- ngx.sleep counts whole milliseconds (and warns about 0).
function cosocket.sleep(seconds) ngx.sleep(math.max(0.001, seconds)) end

cosocket.now = core.now

return cosocket
