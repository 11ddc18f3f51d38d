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

--- The driver for the code running now.
function driver.current()
  local co = coroutine.running()
  return (co and by_coroutine[co]) or driver.blocking
end

return driver
