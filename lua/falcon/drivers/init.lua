--- The driver owns concurrency: how a request moves, how a task waits, how tasks run side by side.
-- The engine (falcon.client) decides everything else. A driver has:
--   exchange(core_client, kind, wire)  kind "api" (wire: the request table), "token" or "revoke";
--                                      returns status, headers, body, info, or nil, error (falcon.core)
--   now()                              seconds, the clock of every deadline below
--   sleep(seconds)                     a wait for a time (a backoff, a pause a 429 named), never for a task
--   queue()                            q: q.wait(deadline) waits until q.release() (true) or the time
--                                      `deadline` (false, math.huge: none), whichever comes first; every
--                                      wait for another task is one (a token renewal, a stream's events)
--   spawn(fn)                          runs fn as a task beside the caller; returns {cancel()}, which
--                                      ends it (cosocket: if the caller spawned it, ngx.thread.kill's rule)
--   run(fn, ...)                       fn(...) where tasks run: waits inside it let the tasks move
-- Three drivers, side by side:
--   blocking (here): libcurl's easy handle. Its tasks run on the calling thread's own curl multi
--     scheduler (falcon.drivers.multi's "home"): spawn adds a task there, run(fn) runs fn as one of them
--     until it returns, and a wait or a sleep of the thread moves them; with no task, a wait is a sleep.
--     (A blocking call cannot yield, so its thread drives the tasks it started, rather than hand them on.)
--   falcon.drivers.multi: inside a task of a curl multi scheduler; waits yield, spawn adds to the same one.
--   falcon.drivers.cosocket (ngx_lua): tasks are light threads, waits are ngx.semaphore waits; it also has
--     on_exit(owner, fn): fn(owner) once, when the nginx worker is told to exit.
-- The last two are picked for the code running in them.
local compat = require "falcon.base.compat"
local core = require "falcon.core"
local cosocket = require "falcon.drivers.cosocket"
local multi_driver = require "falcon.drivers.multi"

local driver = {}

driver.blocking = {
  name = "blocking",
  exchange = core.perform, -- client:perform(kind, wire), with no Lua function between
  now = core.now,
  sleep = function(seconds) multi_driver.wait_at_home({}, core.now() + seconds) end,
  queue = multi_driver.queue,
  spawn = function(fn) return multi_driver.home(true).driver.spawn(fn) end,
  run = multi_driver.run_at_home,
}

-- ngx_lua phases where ngx.socket.tcp works (lua-nginx-module docs, "ngx.socket.tcp" context); in the
-- others (init, init_worker, set, header_filter, body_filter, log, balancer, ssl_session_store) the
-- blocking driver is the only one possible.
driver.COSOCKET_PHASES = { rewrite = true, access = true, content = true, timer = true, ssl_cert = true,
                           ssl_session_fetch = true, ssl_client_hello = true }

local running, schedulers = compat.running, multi_driver.schedulers

--- The driver for the code running now: its scheduler's, when it is a task of one, else the cosocket
--- driver inside nginx where cosockets work, else the blocking one. (Asked on every call: no Lua call of
--- its own but compat.running.)
function driver.current()
  local co = running()
  local scheduler = co and schedulers[co]
  if scheduler then return scheduler.driver end
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.get_phase) == "function" and driver.COSOCKET_PHASES[ngx.get_phase()] then
    return cosocket
  end
  return driver.blocking
end

return driver
