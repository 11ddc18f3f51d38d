--- Drivers move bytes; the engine (falcon.client) decides everything else.
-- A driver has: request(core_client, wire), authenticate(core_client), revoke(core_client),
-- sleep(seconds), now(). The blocking driver calls the C core directly; other drivers (curl multi
-- under coroutines, ngx_lua cosockets) register themselves for the coroutines they run.
local core = require "falcon.core"

local driver = {}

driver.blocking = {
  name = "blocking",
  request = function(client, wire) return client:request(wire) end,
  authenticate = function(client) return client:authenticate() end,
  revoke = function(client) return client:revoke() end,
  sleep = core.sleep,
  now = core.now,
}

-- Coroutine -> driver, weak so finished coroutines are forgotten.
local by_coroutine = setmetatable({}, { __mode = "k" })

--- Runs coroutine `co` under driver `d` (used by the schedulers of other drivers).
function driver.bind(co, d) by_coroutine[co] = d end

-- ngx_lua phases where ngx.socket.tcp works (lua-nginx-module docs, "ngx.socket.tcp" context); in the
-- others (init, init_worker, set, header_filter, body_filter, log, balancer, ssl_session_store) the
-- blocking driver is the only one possible.
driver.COSOCKET_PHASES = { rewrite = true, access = true, content = true, timer = true, ssl_cert = true,
                           ssl_session_fetch = true, ssl_client_hello = true }

local function ngx_phase()
  local ngx = rawget(_G, "ngx")
  if type(ngx) ~= "table" or type(ngx.get_phase) ~= "function" then return nil end
  return ngx.get_phase()
end

--- The driver for the code running now: the one bound to this coroutine, else the cosocket driver inside
-- nginx where cosockets work, else the blocking one.
function driver.current()
  local co = require("falcon.compat").running()
  local bound = co and by_coroutine[co]
  if bound then return bound end
  local phase = ngx_phase()
  if phase and driver.COSOCKET_PHASES[phase] then return require "falcon.cosocket" end
  return driver.blocking
end

return driver
