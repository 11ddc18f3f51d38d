--- Drivers move bytes; the engine (falcon.client) decides everything else.
-- A driver has:
--   exchange(core_client, kind, wire)  kind "api" (wire: the request table), "token" or "revoke";
--                                      returns status, headers, body, info, or nil, error (falcon.core)
--   sleep(seconds), now()
--   queue()                            {wait(), release()}: tasks wait for one event (a token renewal)
-- Three drivers: blocking (here, libcurl's easy handle), falcon.multi_driver (curl multi under
-- coroutines) and falcon.cosocket (ngx_lua). The last two are picked for the code running in them.
local compat = require "falcon.compat"
local core = require "falcon.core"

local driver = {}

local BLOCKING_QUEUE = { wait = function() end, release = function() end }

driver.blocking = {
  name = "blocking",
  exchange = core.perform, -- client:perform(kind, wire)
  sleep = core.sleep,
  now = core.now,
  -- One thread of control: the call that waits is the one renewing, so nobody is ever queued.
  queue = function() return BLOCKING_QUEUE end,
}

-- Coroutine -> driver, weak so finished coroutines are forgotten. Process-wide by necessity: the engine
-- learns its driver from the running coroutine alone (a service call carries no scheduler), and Lua keeps
-- no per-coroutine storage but a table keyed by the coroutine. A coroutine belongs to one scheduler, so
-- entries of different schedulers never meet; each one goes with its coroutine.
local by_coroutine = setmetatable({}, { __mode = "k" })

--- Runs coroutine `co` under driver `d` (used by the schedulers of other drivers).
function driver.bind(co, d) by_coroutine[co] = d end

-- ngx_lua phases where ngx.socket.tcp works (lua-nginx-module docs, "ngx.socket.tcp" context); in the
-- others (init, init_worker, set, header_filter, body_filter, log, balancer, ssl_session_store) the
-- blocking driver is the only one possible.
driver.COSOCKET_PHASES = { rewrite = true, access = true, content = true, timer = true, ssl_cert = true,
                           ssl_session_fetch = true, ssl_client_hello = true }

local running = compat.running

--- The driver for the code running now: the one bound to this coroutine, else the cosocket driver inside
-- nginx where cosockets work, else the blocking one. (Asked on every call: no Lua call of its own.)
function driver.current()
  local co = running()
  local bound = co and by_coroutine[co]
  if bound then return bound end
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.get_phase) == "function" and driver.COSOCKET_PHASES[ngx.get_phase()] then
    -- loaded here, not above: falcon.cosocket is ngx_lua's, and outside nginx it is never needed
    return require "falcon.cosocket"
  end
  return driver.blocking
end

return driver
