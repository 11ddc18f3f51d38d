--- The curl multi driver: many requests in flight from plain Lua. Tasks are coroutines; while a task's
-- exchange is on the wire it yields, and one curl multi handle (falcon.core.multi) moves every exchange
-- forward. A scheduler is the multi handle, the coroutines waiting on it, timers for sleeps and the
-- driver its tasks run under (falcon.parallel and falcon.EventStream decide which tasks run).
--   local s = require("falcon.multi_driver").new(max)
--   s.driver        the driver (falcon.driver): exchange, sleep, now, queue
--   s.ready         coroutines to start (or resume), as {co, values...}
--   s.loop(is_done, resume)   runs until is_done(); resume(co, ...) handles one step
--   s.multi         the multi handle
--   s.close()       closes the multi handle and forgets every task (call it when done, however it ended)
local core = require "falcon.core"
local compat = require "falcon.compat"

local multi_driver = {}

local unpack = table.unpack or unpack -- luacheck: ignore 143

function multi_driver.new(max)
  local s = { multi = core.multi(max), waiting = {}, sleepers = {}, ready = {} }

  local function await(transfer, err)
    if not transfer then return nil, err end
    s.waiting[transfer] = compat.running()
    return coroutine.yield()
  end

  s.driver = {
    name = "multi",
    exchange = function(client, kind, wire) return await(s.multi:add(client, kind, wire)) end,
    now = core.now,
    sleep = function(seconds)
      s.sleepers[#s.sleepers + 1] = { at = core.now() + seconds, co = compat.running() }
      coroutine.yield()
    end,
    --- A queue of coroutines waiting for one event (a token renewal in flight): wait() yields until
    --- release() hands every waiter back to the scheduler.
    queue = function()
      local waiters = {}
      return {
        wait = function()
          waiters[#waiters + 1] = compat.running()
          coroutine.yield()
        end,
        release = function()
          for _, co in ipairs(waiters) do s.ready[#s.ready + 1] = { co } end
          waiters = {}
        end,
      }
    end,
  }

  -- Runs until is_done(); resume(co, ...) handles a step.
  function s.loop(is_done, resume)
    while not is_done() do
      local now = core.now()
      -- Wake the sleepers that are due; the others bound how long the multi handle may wait.
      local timeout, still = 1, {}
      for _, sleeper in ipairs(s.sleepers) do
        if sleeper.at <= now then s.ready[#s.ready + 1] = { sleeper.co }
        else
          still[#still + 1] = sleeper
          timeout = math.min(timeout, sleeper.at - now)
        end
      end
      s.sleepers = still
      if #s.ready > 0 then timeout = 0 end
      local finished = s.multi:perform(timeout)
      for _, transfer in ipairs(finished) do
        local co = s.waiting[transfer]
        s.waiting[transfer] = nil
        -- No waiter: its task raised (a memory error) between handing the transfer over and waiting.
        if co then s.ready[#s.ready + 1] = { co, transfer:result() } else transfer:close() end
      end
      local ready = s.ready
      s.ready = {}
      for _, step in ipairs(ready) do resume(step[1], unpack(step, 2, 5)) end
    end
  end
  -- A scheduler that ended, even by an error, releases the transfers still in flight (now: their __gc
  -- is a finalizer, which Lua may fail to call under memory pressure, and never calls again) and forgets
  -- its tasks: driver.bind's table is weak-keyed, and without ephemerons (LuaJIT, 5.1) a task still
  -- listed here would keep itself and this scheduler alive through that table's value for good.
  function s.close()
    for transfer in pairs(s.waiting) do transfer:close() end
    s.multi:close()
    s.waiting, s.sleepers, s.ready = {}, {}, {}
  end
  return s
end

return multi_driver
